// A jsPsych 8 plugin for the matching task (Nanda et al.'s clustering test with people): a row of
// metamers and a row of targets (labelled A, B, C, ...); the participant clicks a metamer and then
// a target (or the other way round) to give the metamer that target, and continues once every
// metamer has one. Each target takes per_target metamers (metamers / targets): giving a full target
// to another metamer frees the metamer that had it longest, so a 1:1 task stays one target each.
// Everything is built with DOM calls: texts are set as textContent, images as src properties.

const { ParameterType } = window.jsPsychModule;

const info = {
  name: "repalign-matching",
  version: "1.0.0",
  parameters: {
    /** Image URLs of the metamers, in on-screen order (top row). */
    metamers: { type: ParameterType.IMAGE, array: true, default: undefined },
    /** Image URLs of the targets, in on-screen order (bottom row). */
    targets: { type: ParameterType.IMAGE, array: true, default: undefined },
    /** Instruction shown above the rows, as plain text. */
    prompt: { type: ParameterType.STRING, default: "" },
    /** How many metamers each target takes; default metamers / targets (1: one target each). */
    per_target: { type: ParameterType.INT, default: null },
    /** Label of the button that ends the trial once all pairs are made. */
    button_label: { type: ParameterType.STRING, default: "Continue" },
  },
  data: {
    /** For each metamer slot, the slot of the target it was matched with. */
    response: { type: ParameterType.INT, array: true },
    /** Milliseconds from the first display to the click on the continue button. */
    rt: { type: ParameterType.INT },
  },
};

function card(url, label, side, slot) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "rp-card";
  button.dataset.side = side;
  button.dataset.slot = String(slot);
  button.setAttribute("aria-label", label);
  const img = document.createElement("img");
  img.src = url;
  img.alt = label;
  img.draggable = false;
  const badge = document.createElement("span");
  badge.className = "rp-badge";
  button.append(img, badge);
  return button;
}

export class MatchingPlugin {
  static info = info;

  constructor(jsPsych) {
    this.jsPsych = jsPsych;
  }

  trial(displayElement, trial) {
    const k = trial.metamers.length;
    const nTargets = trial.targets.length;
    const perTarget = trial.per_target ?? k / nTargets;
    if (!Number.isInteger(perTarget) || perTarget < 1 || perTarget * nTargets !== k) {
      throw new Error(`matching: ${k} metamers do not split into ${nTargets} targets of ${perTarget}`);
    }
    const root = document.createElement("div");
    root.className = "rp-matching";
    const prompt = document.createElement("p");
    prompt.className = "rp-prompt";
    prompt.textContent = trial.prompt;
    const top = document.createElement("div");
    top.className = "rp-row rp-row-metamers";
    const bottom = document.createElement("div");
    bottom.className = "rp-row rp-row-targets";
    const letter = (t) => String.fromCharCode(65 + (t % 26));
    const metamerCards = trial.metamers.map((u, i) => card(u, `image ${i + 1}`, "metamer", i));
    const targetCards = trial.targets.map((u, t) => card(u, `target ${letter(t)}`, "target", t));
    targetCards.forEach((c, t) => {
      c.querySelector(".rp-badge").textContent = letter(t);
      c.classList.add(`rp-pair-${t % 8}`);
    });
    top.append(...metamerCards);
    bottom.append(...targetCards);
    const next = document.createElement("button");
    next.type = "button";
    next.className = "jspsych-btn rp-continue";
    next.textContent = trial.button_label;
    next.disabled = true;
    root.append(prompt, top, bottom);
    if (perTarget > 1) {
      const hint = document.createElement("p");
      hint.className = "rp-hint";
      hint.textContent = `Each image in the bottom row goes with ${perTarget} images on top.`;
      root.append(hint);
    }
    root.append(next);
    displayElement.appendChild(root);

    const matchOf = new Array(k).fill(null); // metamer slot -> target slot
    const order = []; // metamer slots in the order they were given a target
    const selected = { metamer: null, target: null };
    const render = () => {
      metamerCards.forEach((c, i) => {
        for (let p = 0; p < 8; p += 1) c.classList.remove(`rp-pair-${p}`);
        if (matchOf[i] !== null) c.classList.add(`rp-pair-${matchOf[i] % 8}`);
        c.querySelector(".rp-badge").textContent = matchOf[i] === null ? "" : letter(matchOf[i]);
        c.classList.toggle("rp-selected", selected.metamer === i);
        c.classList.toggle("rp-paired", matchOf[i] !== null);
      });
      targetCards.forEach((c, t) => {
        c.classList.toggle("rp-selected", selected.target === t);
        c.classList.toggle("rp-full", matchOf.filter((x) => x === t).length >= perTarget);
      });
      next.disabled = matchOf.some((t) => t === null);
    };
    const assign = (m, t) => {
      if (order.includes(m)) order.splice(order.indexOf(m), 1);
      matchOf[m] = t;
      order.push(m);
      const holders = order.filter((x) => matchOf[x] === t);
      if (holders.length > perTarget) {
        const freed = holders[0]; // the longest holder gives the target up
        matchOf[freed] = null;
        order.splice(order.indexOf(freed), 1);
      }
    };
    const choose = (side, slot) => {
      selected[side] = selected[side] === slot ? null : slot;
      if (selected.metamer !== null && selected.target !== null) {
        assign(selected.metamer, selected.target);
        selected.metamer = null;
        selected.target = null;
      }
      render();
    };
    metamerCards.forEach((c, i) => c.addEventListener("click", () => choose("metamer", i)));
    targetCards.forEach((c, t) => c.addEventListener("click", () => choose("target", t)));

    const start = performance.now();
    next.addEventListener("click", () => {
      if (matchOf.some((t) => t === null)) return;
      this.jsPsych.finishTrial({ response: matchOf.slice(), rt: Math.round(performance.now() - start) });
    });
    render();
  }
}
