(classes) => {
  const nav = performance.getEntriesByType('navigation')[0];
  const counts = {};
  for (const c of classes) { counts[c] = document.querySelectorAll('path.' + c).length; }
  return {
    mark: window.__mapScale,
    responseStart: nav.responseStart,
    responseEnd: nav.responseEnd,
    counts: counts,
    paths: document.querySelectorAll('path').length,
    labels: document.querySelectorAll('.gm-label').length,
    nodes: document.getElementsByTagName('*').length,
    heap: performance.memory ? performance.memory.usedJSHeapSize : null,
  };
}
