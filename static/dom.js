// `h("p", {class: "note"}, "text", child)`: a tiny element builder, so the views read like markup;
// `svg("line", {x1: 0, ...})` the same for SVG elements. Attributes are set with setAttribute
// (booleans: present when true); `on*` functions become event listeners. Children may be strings,
// nodes, or null/false (skipped).

const SVG_NS = "http://www.w3.org/2000/svg";

export function h(tag, attributes = {}, ...children) {
  return build(document.createElement(tag), attributes, children);
}

export function svg(tag, attributes = {}, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attributes, children);
}

function build(element, attributes, children) {
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
