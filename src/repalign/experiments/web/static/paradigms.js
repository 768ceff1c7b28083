// One jsPsych trial per paradigm, built from a trial the server assigned.
//
// A server trial lists ``stimuli`` ([{id, url}]) in the trial's canonical order, ``positions``
// (the on-screen order the server chose: positions[slot] is the index into stimuli shown in that
// slot) and ``choices`` (recognition: class names, with ``choice_order`` the button order;
// rating: the slider range; matching: the target ids, the targets being the last stimuli).
// buildTrial returns the jsPsych trial, the stimulus ids in the order shown, and a function that
// turns jsPsych's data into the response the server stores. Every index in a response refers to
// the canonical order (stimuli or choices), never to a slot on the screen.

import { MatchingPlugin } from "./matching.js";
import { escapeHtml, textHtml } from "./text.js";

const PROMPTS = {
  odd_one_out: "Which image is the odd one out? Click it.",
  two_afc: "Which of the two lower images looks more like the image on top? Click it.",
  matching:
    "Each image in the top row was made from one image in the bottom row. Click an image on top, " +
    "then the image below it came from. Continue when every image on top has its letter.",
  recognition: "What does this image show? Click its name.",
  rating: "How similar are these two images? Move the slider, then continue.",
};

/** The paradigm's name as the page spells it ("odd-one-out", "2afc" are accepted too). */
export function paradigmName(name) {
  const n = String(name || "").toLowerCase().replace(/-/g, "_");
  return { "2afc": "two_afc", similarity_rating: "rating", triplet: "odd_one_out" }[n] || n;
}

/** An image of a trial as {id, url}, the url relative to the page (a bare name is served from
 * stimuli/NAME.png; "/stimuli/..." loses its slash, so a server under a path prefix works). */
export function image(item) {
  if (item && typeof item === "object") {
    return { id: String(item.id), url: String(item.url).replace(/^\/(?!\/)/, "") };
  }
  return { id: String(item), url: `stimuli/${encodeURIComponent(String(item))}.png` };
}

/** The given canonical indices in on-screen order: as they appear in ``order`` (the server's
 * positions). Without a usable order they stay as given. */
export function screenOrder(order, indices) {
  const positions = Array.isArray(order) ? order.map(Number) : [];
  const shown = positions.filter((p) => indices.includes(p));
  if (shown.length === indices.length && new Set(shown).size === shown.length) return shown;
  return indices.slice();
}

function range(n, from = 0) {
  return Array.from({ length: n }, (_, i) => from + i);
}

function imageButton(url, label) {
  return `<button type="button" class="jspsych-btn rp-image-choice" aria-label="${escapeHtml(label)}">` +
    `<img src="${escapeHtml(url)}" alt="${escapeHtml(label)}" draggable="false"></button>`;
}

function promptHtml(text) {
  return `<div class="rp-prompt">${textHtml(text)}</div>`;
}

function oddOneOut(trial, stimuli, prompt) {
  const slots = screenOrder(trial.positions, range(stimuli.length));
  return {
    jspsych: {
      type: window.jsPsychHtmlButtonResponse,
      stimulus: promptHtml(prompt),
      choices: slots.map((i) => stimuli[i].url),
      button_html: (url, slot) => imageButton(url, `image ${slot + 1}`),
      button_layout: "flex",
    },
    shown: slots,
    response: (data) => ({ choice: slots[data.response] }),
  };
}

function twoAfc(trial, stimuli, prompt) {
  const slots = screenOrder(trial.positions, range(stimuli.length - 1, 1));
  return {
    jspsych: {
      type: window.jsPsychHtmlButtonResponse,
      stimulus: `<div class="rp-reference"><img src="${escapeHtml(stimuli[0].url)}" ` +
        `alt="reference" draggable="false"></div>${promptHtml(prompt)}`,
      choices: slots.map((i) => stimuli[i].url),
      button_html: (url, slot) => imageButton(url, `candidate ${slot + 1}`),
      button_layout: "flex",
    },
    shown: [0, ...slots],
    response: (data) => ({ choice: slots[data.response] }),
  };
}

function matching(trial, stimuli, prompt) {
  const nTargets = (trial.choices || []).length || 3;
  const metamers = range(stimuli.length - nTargets);
  const metamerSlots = screenOrder(trial.positions, metamers);
  const targetSlots = screenOrder(trial.positions, range(nTargets, metamers.length));
  return {
    jspsych: {
      type: MatchingPlugin,
      metamers: metamerSlots.map((i) => stimuli[i].url),
      targets: targetSlots.map((i) => stimuli[i].url),
      prompt,
    },
    shown: [...metamerSlots, ...targetSlots],
    // for each metamer in canonical order, the canonical index of the target given to it
    response: (data) => ({
      matches: metamers.map((m) => targetSlots[data.response[metamerSlots.indexOf(m)]]),
    }),
  };
}

function recognition(trial, stimuli, prompt) {
  const names = (trial.choices || []).map(String);
  const order = screenOrder(trial.choice_order, range(names.length));
  return {
    jspsych: {
      type: window.jsPsychImageButtonResponse,
      stimulus: stimuli[0].url,
      stimulus_height: 224,
      choices: order.map((c) => names[c]),
      button_html: (name) =>
        `<button type="button" class="jspsych-btn rp-label-choice">${escapeHtml(name)}</button>`,
      button_layout: "flex",
      prompt: promptHtml(prompt),
      render_on_canvas: false,
    },
    shown: [0],
    response: (data) => ({ choice: order[data.response] }),
  };
}

function rating(trial, stimuli, prompt) {
  const slots = screenOrder(trial.positions, range(stimuli.length));
  const c = { min: 0, max: 100, step: 1, labels: ["very different", "very similar"],
    ...(trial.choices && !Array.isArray(trial.choices) ? trial.choices : {}) };
  const min = Number(c.min);
  const max = Number(c.max);
  return {
    jspsych: {
      type: window.jsPsychHtmlSliderResponse,
      stimulus: `<div class="rp-pair">${slots.map((i) =>
        `<img src="${escapeHtml(stimuli[i].url)}" alt="image" draggable="false">`).join("")}</div>`,
      min,
      max,
      step: Number(c.step),
      slider_start: min + Math.round((max - min) / 2),
      labels: (c.labels || []).map(escapeHtml),
      require_movement: true,
      button_label: "Continue",
      prompt: promptHtml(prompt),
    },
    shown: slots,
    response: (data) => ({ rating: Number(data.response) }),
  };
}

const BUILDERS = { odd_one_out: oddOneOut, two_afc: twoAfc, matching, recognition, rating };

/** The jsPsych trial for one server trial, the ids it shows, its response maker and images.
 *
 * @param trial the server's trial.
 * @param texts the experiment's texts (a non-empty ``prompt`` replaces the page's default).
 * @param paradigm the session's paradigm, for trials that do not name theirs.
 */
export function buildTrial(trial, texts, paradigm) {
  const name = paradigmName(trial.paradigm || paradigm);
  const build = BUILDERS[name];
  if (!build) throw new Error(`unknown paradigm ${JSON.stringify(trial.paradigm || paradigm)}`);
  const stimuli = (trial.stimuli || []).map(image);
  const made = build(trial, stimuli, trial.prompt || texts.prompt || PROMPTS[name]);
  return {
    jspsych: made.jspsych,
    onscreenOrder: made.shown.map((i) => stimuli[i].id),
    response: made.response,
    images: stimuli.map((s) => s.url),
  };
}
