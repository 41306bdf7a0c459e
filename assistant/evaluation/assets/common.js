/* Shared by the eval pages (report.js, compare.js). Report values (answers, passages,
   judge reasons) are untrusted: nodes get text through textContent, never markup. */
var EvalPage = (function () {
  "use strict";
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === "text") node.textContent = attrs[key];
      else if (key === "class") node.className = attrs[key];
      else node.setAttribute(key, attrs[key]);
    });
    (children || []).forEach(function (child) {
      if (child !== null && child !== undefined) {
        node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
      }
    });
    return node;
  }
  function data() { return JSON.parse(document.getElementById("report-data").textContent); }
  return { el: el, data: data };
})();
