/* A history list of the workbench (versions, uploads, audit log), page by page as the API
 * pages it (api/responses.py paged: newest first, a `next` link with a cursor while older
 * entries follow, numberMatched exact up to 10 000 and estimated above).
 *
 * gm.list(options) → {load(query), more()}
 *   path   — the list's endpoint (/api/v1/versions, /api/v1/uploads, /api/v1/audit);
 *   items  — the answer's array ("versions", "uploads", "entries");
 *   limit  — the page size asked for;
 *   body   — the <tbody> that gets one row(item) per entry (built with gm.el: text only);
 *   name   — the ids of what the template's lists.more(name, label) wrote:
 *            #<name>-more, the "更早的…" button: a click follows the answer's `next` link and
 *            appends that page; hidden on the last page, disabled while a page loads;
 *            #<name>-count, where "已列出最新的 N 个…，共 M 个…" is said ("总数约 M" when
 *            estimated; on the last page "共 N 个…，已全部列出");
 *   noun   — what an entry is counted as ("个版本");
 *   message — where a page that could not be read is said (gm.message);
 *   onAnswer(answer, items, appended) — with each page, before its rows are drawn.
 * load(query) reads the first page again (query: the list's filters); more() the next one.
 * An answer that arrives after a newer load() was asked for is dropped.
 */
(function () {
  "use strict";

  /** The answer's `next` link as a path on this page's origin (the link names the host the
   * API saw, which behind a proxy may not be the one the browser talks to). */
  function nextPath(answer) {
    const link = (answer.links || []).find((l) => l.rel === "next");
    if (!link) return null;
    const url = new URL(link.href, window.location.origin);
    return url.pathname + url.search;
  }

  function list({ path, items, limit, body, row, name, noun, message, onAnswer }) {
    const button = document.getElementById(`${name}-more`);
    const count = document.getElementById(`${name}-count`);
    let next = null;
    let shown = 0;
    let generation = 0;

    function say(answer) {
      const number = (n) => n.toLocaleString("zh-CN");
      const total = answer.numberMatchedExact === false ? `总数约 ${number(answer.numberMatched)}` : `共 ${number(answer.numberMatched)}`;
      if (!shown) count.textContent = "";
      else if (next) count.textContent = `已列出最新的 ${number(shown)} ${noun}，${total} ${noun}。`;
      else count.textContent = `共 ${number(shown)} ${noun}，已全部列出。`;
    }

    async function page(request, appended) {
      const ticket = appended ? generation : ++generation;
      button.disabled = true;
      let answer;
      try {
        answer = await request();
      } finally {
        if (ticket === generation) button.disabled = false;
      }
      if (ticket !== generation) return null;
      const got = answer[items];
      if (onAnswer) onAnswer(answer, got, appended);
      if (!appended) {
        body.replaceChildren();
        shown = 0;
      }
      body.append(...got.map(row));
      shown += got.length;
      next = nextPath(answer);
      button.hidden = !next;
      say(answer);
      return answer;
    }

    function load(query = {}) {
      return page(() => gm.api(path, { query: { ...query, limit } }), false);
    }

    function more() {
      if (!next) return Promise.resolve(null);
      const target = next;
      return page(() => gm.api(target), true);
    }

    button.addEventListener("click", () => {
      more().catch((error) => gm.message(message, `无法读取更早的记录：${error.message}`, "error"));
    });
    return { load, more };
  }

  gm.list = list;
})();
