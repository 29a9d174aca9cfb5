// Draw every chart of the page: each [data-figure] element carries its plotly figure as JSON.
// A file, not an inline script, so the Content-Security-Policy can say script-src 'self'.
document.addEventListener("DOMContentLoaded", () => {
  for (const el of document.querySelectorAll("[data-figure]")) {
    const figure = JSON.parse(el.dataset.figure);
    Plotly.newPlot(el, figure.data, figure.layout, {displayModeBar: false, responsive: true});
  }
});
