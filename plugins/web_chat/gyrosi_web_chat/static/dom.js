// The element builder every script of the page uses: text goes in with textContent only, so
// model text put in an element is always shown as text, never read as HTML.

export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}
