(() => {
  const selector = %s, want = %d;
  const tick = () => {
    if (document.querySelectorAll(selector).length >= want) {
      const seen = performance.now();
      requestAnimationFrame(() => {
        window.__mapScale = {seen: seen, drawn: performance.now()};
      });
    } else {
      requestAnimationFrame(tick);
    }
  };
  requestAnimationFrame(tick);
})();
