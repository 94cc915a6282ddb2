// `h("p", {class: "note"}, "text", child)`: a tiny element builder, so the views read like markup.
// Attributes are set with setAttribute (booleans: present when true); `on*` functions become
// event listeners. Children may be strings, nodes, or null/false (skipped).

export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value == null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      element.addEventListener(name.slice(2), value);
    } else {
      element.setAttribute(name, value === true ? "" : String(value));
    }
  }
  element.append(...children.flat(Infinity).filter((child) => child != null && child !== false));
  return element;
}

let nextId = 0;

/** A page-unique id for aria-labelledby and friends. */
export function uid(prefix) {
  nextId += 1;
  return `${prefix}-${nextId}`;
}
