/* The admin page (api/templates/workbench/admin.html): users and API keys, through the JSON
 * API only — GET/POST /api/v1/users, PATCH /api/v1/users/{id}; GET/POST /api/v1/keys,
 * POST /api/v1/keys/{id}/revoke and /rotate.  Every value shown is text (gm.el), never HTML.
 * A new or rotated key is shown once, in the page, and never stored by it. */
(function () {
  "use strict";
  const { api, el, message } = gm;
  const ROLES = { viewer: "查看", editor: "编辑", admin: "管理员" };
  const KEY_STATUS = { active: "有效", expired: "已过期", revoked: "已吊销" };
  const note = document.getElementById("admin-message");
  const scopeNames = new Map();

  const when = gm.when;

  function scopeText(code) {
    if (!code) return "全部";
    const name = scopeNames.get(code);
    return name ? `${name}（${code}）` : code;
  }

  function roleSelect(value, label) {
    return el("select", { "aria-label": label },
      Object.entries(ROLES).map(([role, title]) =>
        el("option", { value: role, selected: role === value }, title)));
  }

  /** GET /api/v1/<what> into the table body <what>-body, a row each (`row(item)`). */
  async function load(what, row, title) {
    try {
      const answer = await api(`/api/v1/${what}`);
      document.getElementById(`${what}-body`).replaceChildren(...answer[what].map(row));
    } catch (error) {
      message(note, `无法读取${title}列表：${error.message}`, "error");
    }
  }

  /** Run an API call for a button: errors shown in the page's message, then the lists again. */
  async function act(done, call) {
    try {
      await call();
      message(note, done, "ok");
    } catch (error) {
      message(note, `${error.message}（${error.code}）`, "error");
    }
    await Promise.all([loadUsers(), loadKeys()]);
  }

  // ------------------------------------------------------------------ users

  function userRow(user) {
    const role = roleSelect(user.role, `${user.username} 的角色`);
    const scope = el("input", {
      value: user.scope || "", list: "scope-codes", maxlength: 64, size: 14,
      placeholder: "全部", "aria-label": `${user.username} 的管辖范围`,
    });
    const password = el("input", {
      type: "password", minlength: 10, maxlength: 1024, autocomplete: "new-password",
      placeholder: "新密码（至少 10 位）", "aria-label": `${user.username} 的新密码`,
      "data-testid": "user-new-password",
    });
    const passwordForm = el("form", { class: "wb-buttons" }, password,
      el("button", { type: "submit", "data-testid": "user-password-save" }, "确定"));
    const passwordBox = el("div", { hidden: true }, passwordForm);
    passwordForm.addEventListener("submit", (event) => {
      event.preventDefault();
      act(`已重置 ${user.username} 的密码，其登录会话已结束`, () =>
        api(`/api/v1/users/${user.id}`, { method: "PATCH", body: { password: password.value } }));
    });
    const disabled = user.status === "disabled";
    return el("tr", { "data-testid": "user-row", dataset: { username: user.username } },
      el("td", {}, String(user.id)),
      el("td", {}, user.username),
      el("td", {}, role),
      el("td", {}, scope, el("div", { class: "wb-admin-note" }, scopeText(user.scope))),
      el("td", { class: disabled ? "wb-warning" : "" },
        disabled ? `已停用 ${when(user.disabled_at)}` : "正常"),
      el("td", {}, when(user.created_at)),
      el("td", {},
        el("div", { class: "wb-buttons" },
          el("button", {
            type: "button", class: "wb-secondary",
            onclick: () => act(`已保存 ${user.username} 的角色与范围`, () =>
              api(`/api/v1/users/${user.id}`, {
                method: "PATCH", body: { role: role.value, scope: scope.value.trim() || null },
              })),
          }, "保存"),
          el("button", {
            type: "button", class: "wb-secondary", "data-testid": "user-reset",
            onclick: () => { passwordBox.hidden = !passwordBox.hidden; password.focus(); },
          }, "重置密码"),
          el("button", {
            type: "button", class: "wb-secondary", "data-testid": "user-toggle",
            onclick: () => {
              if (!disabled && !window.confirm(`停用 ${user.username}？其登录会话将立即结束。`)) return;
              act(disabled ? `已启用 ${user.username}` : `已停用 ${user.username}`, () =>
                api(`/api/v1/users/${user.id}`, { method: "PATCH", body: { disabled: !disabled } }));
            },
          }, disabled ? "启用" : "停用")),
        passwordBox));
  }

  const loadUsers = () => load("users", userRow, "用户");

  document.getElementById("user-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const value = (id) => document.getElementById(id).value;
    const user = {
      username: value("user-username").trim(),
      password: value("user-password"),
      role: value("user-role"),
      scope: value("user-scope").trim() || null,
    };
    act(`已添加用户 ${user.username}`, async () => {
      await api("/api/v1/users", { method: "POST", body: user });
      form.reset();
    });
  });

  // ------------------------------------------------------------------ keys

  function showKey(answer) {
    document.getElementById("new-key-value").textContent = answer.key;
    document.getElementById("new-key").hidden = false;
  }

  function keyRow(key) {
    const live = key.status === "active";
    return el("tr", { "data-testid": "key-row", dataset: { name: key.name } },
      el("td", {}, String(key.id)),
      el("td", {}, key.name),
      el("td", {}, ROLES[key.role] || key.role),
      el("td", {}, scopeText(key.scope)),
      el("td", { class: live ? "" : "wb-warning" }, KEY_STATUS[key.status] || key.status),
      el("td", {}, key.expires_at ? when(key.expires_at) : "长期"),
      el("td", {}, when(key.last_used_at)),
      el("td", {}, key.status === "revoked" ? "" : el("div", { class: "wb-buttons" },
        el("button", {
          type: "button", class: "wb-secondary", "data-testid": "key-rotate",
          onclick: () => {
            if (!window.confirm(`轮换密钥“${key.name}”？旧密钥将立即失效。`)) return;
            act(`已轮换密钥 ${key.id}：新密钥显示在密钥列表上方`, async () =>
              showKey(await api(`/api/v1/keys/${key.id}/rotate`, { method: "POST" })));
          },
        }, "轮换"),
        el("button", {
          type: "button", class: "wb-secondary", "data-testid": "key-revoke",
          onclick: () => {
            if (!window.confirm(`吊销密钥“${key.name}”？使用它的系统将立即无法访问。`)) return;
            act(`已吊销密钥 ${key.id}`, () => api(`/api/v1/keys/${key.id}/revoke`, { method: "POST" }));
          },
        }, "吊销"))));
  }

  const loadKeys = () => load("keys", keyRow, "密钥");

  document.getElementById("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const value = (id) => document.getElementById(id).value.trim();
    const key = {
      name: value("key-name"),
      role: value("key-role"),
      expires: value("key-expires") || null,
      scope: value("key-scope") || null,
    };
    act(`已签发密钥“${key.name}”：请复制下方显示的新密钥`, async () => {
      showKey(await api("/api/v1/keys", { method: "POST", body: key }));
      form.reset();
    });
  });

  // ------------------------------------------------------------------ scopes

  /** Counties, streets and communities as the scope fields' suggestions (code — name). */
  async function loadScopes() {
    const list = document.getElementById("scope-codes");
    for (const level of ["county", "street", "community"]) {
      let answer;
      try {
        answer = await api("/api/v1/regions", { query: { level, limit: 1000, simplify: 1000 } });
      } catch (error) {
        continue;
      }
      for (const f of answer.features) {
        scopeNames.set(f.properties.code, f.properties.name);
        list.append(el("option", { value: f.properties.code }, f.properties.name));
      }
    }
  }

  loadScopes().then(() => Promise.all([loadUsers(), loadKeys()]));
})();
