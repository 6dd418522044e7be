// Typeset the formulas that pymdownx.arithmatex (generic mode) marks with the class
// "arithmatex": \( ... \) inline, \[ ... \] on their own line.  KaTeX is served with the
// site (docs/vendor/katex), so nothing is fetched from elsewhere.  A formula KaTeX cannot
// read is shown in red with the error as its title (tests/test_docs_browser.py fails then).
function typesetFormulas() {
  for (const element of document.querySelectorAll(".arithmatex")) {
    if (element.querySelector(".katex")) continue;
    const tex = element.textContent.trim();
    katex.render(tex.slice(2, -2), element, {
      displayMode: tex.startsWith("\\["),
      throwOnError: false,
    });
  }
}

if (typeof document$ !== "undefined") {
  document$.subscribe(typesetFormulas);  // Material: after every page load, instant or not
} else {
  document.addEventListener("DOMContentLoaded", typesetFormulas);
}
