// Shows how long this page took, as the browser measured it.
"use strict";
window.addEventListener("load", () => {
  const el = document.getElementById("timing");
  const [nav] = performance.getEntriesByType("navigation");
  if (!el || !nav) return;
  const ttfb = nav.responseStart - nav.requestStart;
  el.textContent = `Time to first byte: ${ttfb.toFixed(1)} ms; ` +
    `page loaded in ${nav.duration.toFixed(1)} ms.`;
});
