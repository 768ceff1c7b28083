// Text from the configuration or the server, made safe for the HTML strings jsPsych's plugins take.

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** Any value as text that HTML shows literally (also safe inside a quoted attribute). */
export function escapeHtml(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

/** Paragraphs of a plain text: split on blank lines, trimmed, empty ones dropped. */
export function paragraphs(text) {
  return String(text ?? "")
    .split(/\n\s*\n/)
    .map((s) => s.trim())
    .filter((s) => s.length);
}

/** A plain text as escaped <p> paragraphs, for a plugin's HTML stimulus. */
export function textHtml(text) {
  return paragraphs(text)
    .map((p) => `<p>${escapeHtml(p)}</p>`)
    .join("");
}
