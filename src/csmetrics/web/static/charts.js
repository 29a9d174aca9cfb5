// Draw every chart of the page: each [data-figure] element carries its plotly figure as JSON.
// A file, not an inline script, so the Content-Security-Policy can say script-src 'self'.
document.addEventListener("DOMContentLoaded", () => {
  for (const el of document.querySelectorAll("[data-figure]")) {
    const figure = JSON.parse(el.dataset.figure);
    const drawn = Plotly.newPlot(el, figure.data, figure.layout,
                                 {displayModeBar: false, responsive: true});
    if (el.dataset.drill) {
      drawn.then(() => el.on("plotly_click", (event) => {
        const url = drillTo(el.dataset.drill, event.points[0]);
        if (url) window.location.assign(url);
      }));
    }
  }
});

// Where a click on a chart leads (web/drilldown.py): the chart's data-drill address plus
// the period clicked (x), the movement (the bar's trace meta) or the cohort cell (y, x).
function drillTo(base, point) {
  const url = new URL(base, window.location.href);
  if (point.data.type === "heatmap") {
    url.searchParams.set("cohort", String(point.y).slice(0, 10));
    url.searchParams.set("month", String(point.x));
    return url;
  }
  if (url.pathname.endsWith("/movement")) {
    if (!point.data.meta) return null;  // the net new MRR line
    url.searchParams.set("kind", point.data.meta);
  }
  url.searchParams.set("start", String(point.x).slice(0, 10));
  return url;
}
