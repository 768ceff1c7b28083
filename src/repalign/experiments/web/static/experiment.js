// The experiment page: reads its configuration, opens (or resumes) the participant's session, runs
// the remaining trials with jsPsych 8 and its official plugins, sends every response when its
// trial ends, and ends on the completion (or failure) code.
//
// Texts from the configuration are always inserted as text: through textContent, or escaped with
// escapeHtml where a jsPsych plugin takes an HTML string. The page needs no inline script.

import { ConnectionBanner, Outbox, RefusedError, makeUuid, postUntilAnswered, storage } from "./net.js";
import { buildTrial } from "./paradigms.js";
import { escapeHtml, paragraphs, textHtml } from "./text.js";

const DEFAULT_TEXTS = {
  title: "Experiment",
  consent: "",
  consent_button: "I agree",
  instructions: "",
  prompt: "",
  completed: "Thank you! Your answers are saved.",
  failed: "Unfortunately you did not pass the attention checks of this study.",
};

const REDIRECT_AFTER_MS = 5000;

function readConfig() {
  const block = document.getElementById("experiment-config");
  try {
    const cfg = JSON.parse(block ? block.textContent : "");
    if (cfg && typeof cfg === "object") return cfg;
  } catch (e) {
    /* fall through */
  }
  throw new Error("the page has no valid experiment configuration");
}

/** Replace the page's content with plain-text paragraphs (and an optional element). */
function showMessage(heading, lines, extra) {
  const display = document.getElementById("rp-display");
  display.replaceChildren();
  const box = document.createElement("section");
  box.className = "rp-message";
  const h = document.createElement("h1");
  h.textContent = heading;
  box.append(h);
  for (const line of lines) {
    const p = document.createElement("p");
    p.textContent = line;
    box.append(p);
  }
  if (extra) box.append(extra);
  display.append(box);
  return box;
}

function showError(error) {
  const refused = error instanceof RefusedError;
  showMessage(refused ? "This session cannot continue" : "Something went wrong", [
    String(error && error.message ? error.message : error),
    "Please contact the researcher and mention this message.",
  ]);
}

/** The participant's ids from the URL; a stored random one where the experiment allows it. */
function participantFromUrl(cfg) {
  const names = cfg.url_parameters || {};
  const params = new URLSearchParams(window.location.search);
  const pick = (name) => (name ? params.get(name) || "" : "");
  let participant = pick(names.participant || "PROLIFIC_PID");
  if (!participant && cfg.allow_anonymous) {
    participant = storage.get("repalign-anonymous-id") || `anon-${makeUuid()}`;
    storage.set("repalign-anonymous-id", participant);
  }
  return {
    participant_id: participant,
    study_id: pick(names.study || "STUDY_ID"),
    session_id: pick(names.session || "SESSION_ID"),
  };
}

/** The final screen: the completion (or failure) code as text, and the way back. */
function showEnd(texts, end) {
  const failed = end.status !== "completed";
  const code = failed ? end.failure_code : end.completion_code;
  // never the completion link after a failure: on Prolific it would count as a completion
  const redirect = failed ? end.failure_redirect_url : end.redirect_url;
  const extra = document.createElement("div");
  if (code) {
    const label = document.createElement("p");
    label.textContent = failed ? "Your failure code:" : "Your completion code:";
    const value = document.createElement("p");
    value.className = "rp-code";
    value.id = "rp-code";
    value.textContent = code;
    extra.append(label, value);
  }
  const away = Boolean(redirect && /^https?:\/\//.test(redirect));
  if (away) {
    const link = document.createElement("a");
    link.className = "jspsych-btn rp-link";
    link.href = redirect;
    link.rel = "noopener noreferrer";
    link.textContent = "Return to the study platform";
    extra.append(link);
  }
  // completion.redirect_after_ms: null means by the button only; absent, the page's default
  const delay = "redirect_after_ms" in end ? end.redirect_after_ms : REDIRECT_AFTER_MS;
  const automatic = away && delay !== null && Number.isFinite(Number(delay));
  const body = paragraphs(failed ? texts.failed : texts.completed);
  if (automatic) {
    body.push(`You will be taken back to the study platform in ${Math.round(Number(delay) / 1000)} seconds.`);
  } else if (code) {
    body.push("Please enter this code where the study platform asks for it.");
  }
  showMessage(failed ? "Thank you" : "Thank you!", body, extra);
  document.body.dataset.state = failed ? "failed" : "completed";
  if (automatic) setTimeout(() => window.location.assign(redirect), Number(delay));
}

async function run() {
  const cfg = readConfig();
  const banner = new ConnectionBanner(document.getElementById("rp-connection"));
  const ids = participantFromUrl(cfg);
  const names = cfg.url_parameters || {};
  if (!ids.participant_id) {
    showMessage("This link is incomplete", [
      `The address lacks the participant id (the URL parameter ${names.participant || "PROLIFIC_PID"}).`,
      "Please open the study again from the study platform.",
    ]);
    return;
  }
  const outbox = new Outbox(ids.participant_id, banner);
  // answers left unacknowledged before a reload go first; one the server refuses (it belongs to
  // a database that was replaced, say) cannot be stored anywhere and does not block the session
  while (outbox.pending) {
    try {
      await outbox.flush();
    } catch (error) {
      if (!(error instanceof RefusedError)) throw error;
      console.warn("an answer kept from an earlier visit was refused:", error.message);
    }
  }
  const session = await postUntilAnswered("api/session", ids, banner);
  const texts = { ...DEFAULT_TEXTS, ...(cfg.texts || {}), ...(session.texts || {}) };
  document.title = texts.title;
  if (session.status !== "active") {
    const end = session.completion || { status: session.status };
    showEnd(texts, { status: session.status, ...end });
    return;
  }

  const trials = (session.trials || [])
    .filter((t) => t.trial_index >= session.next_trial)
    .sort((a, b) => a.trial_index - b.trial_index);
  const total = (session.trials || []).length;
  const progress = document.getElementById("rp-progress");
  const jsPsych = window.initJsPsych({
    display_element: document.getElementById("rp-display"),
    on_trial_start: () => window.scrollTo(0, 0),
  });

  const nodes = trials.map((trial) => buildTrial(trial, texts, session.paradigm || cfg.paradigm));
  const timeline = [];
  if (trials.length) {
    timeline.push({
      type: window.jsPsychPreload,
      images: [...new Set(nodes.flatMap((n) => n.images))],
      message: "<p>Loading the images...</p>",
      show_detailed_errors: false,
      max_load_time: 60000,
    });
  }
  if (session.next_trial === 0 && texts.consent) {
    timeline.push({
      type: window.jsPsychHtmlButtonResponse,
      stimulus: `<div class="rp-text rp-consent">${textHtml(texts.consent)}</div>`,
      choices: [texts.consent_button],
      button_html: (choice) => `<button class="jspsych-btn rp-agree">${escapeHtml(choice)}</button>`,
      data: { repalign: "consent" },
    });
  }
  // instructions: one page per list item, or the whole text on one page
  let pages = Array.isArray(texts.instructions) ? texts.instructions : [texts.instructions];
  pages = pages.filter((p) => paragraphs(p).length);
  if (session.next_trial === 0 && pages.length) {
    timeline.push({
      type: window.jsPsychInstructions,
      pages: pages.map((p) => `<div class="rp-text rp-instructions">${textHtml(p)}</div>`),
      show_clickable_nav: true,
      allow_backward: true,
      button_label_next: "Next",
      button_label_previous: "Back",
      data: { repalign: "instructions" },
    });
  }

  let sent = Promise.resolve();
  for (const [k, trial] of trials.entries()) {
    const node = nodes[k];
    timeline.push({
      ...node.jspsych,
      data: { repalign: "trial", trial_index: trial.trial_index },
      on_start: () => {
        progress.textContent = `${trial.trial_index + 1} / ${total}`;
      },
      on_finish: (data) => {
        // sent the moment the trial ends; the next step waits for the acknowledgement
        sent = outbox.add({
          participant_id: ids.participant_id,
          trial_index: trial.trial_index,
          response_id: makeUuid(),
          response: node.response(data),
          rt_ms: Number(data.rt),
          onscreen_order: node.onscreenOrder,
          client_sent_at: Date.now(),
        });
      },
    });
    timeline.push({
      type: window.jsPsychCallFunction,
      async: true,
      func: (done) => {
        sent.then(() => done(outbox.lastAnswer), (error) => showError(error));
      },
      data: { repalign: "ack" },
    });
  }

  await jsPsych.run(timeline);
  progress.textContent = "";
  const end = await postUntilAnswered("api/finish", { participant_id: ids.participant_id }, banner);
  showEnd(texts, end);
}

// Keyboard shortcuts, an extra (everything works by clicking): 1-9 press the n-th answer button
// of odd-one-out, 2AFC and recognition trials, counted in reading order.
document.addEventListener("keydown", (event) => {
  if (event.repeat || event.altKey || event.ctrlKey || event.metaKey) return;
  if (!/^[1-9]$/.test(event.key) || document.body.classList.contains("rp-offline")) return;
  const buttons = document.querySelectorAll("#rp-display .rp-image-choice, #rp-display .rp-label-choice");
  const button = buttons[Number(event.key) - 1];
  if (button && !button.disabled) {
    event.preventDefault();
    button.click();
  }
});

window.addEventListener("beforeunload", (event) => {
  if (document.body.classList.contains("rp-offline")) event.preventDefault();
});

run().catch((error) => {
  showError(error);
  // leave a trace for whoever debugs the page
  console.error(error);
});
