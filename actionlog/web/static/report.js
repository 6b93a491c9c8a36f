// The Content Actions Log page: filters in the URL, the report one page at a time over the
// JSON routes, every value put in the page as text (never as markup). No library, no build step.
"use strict";
(function () {
  const REPORT = "/reports/content-actions-log";
  const PAGE_SIZE = 50;
  const MULTI = ["panorama", "content", "learner", "type", "source", "course-group", "content-type"];
  const SINGLE = ["from", "to", "tz"];
  const COLUMNS = ["email", "panorama_name", "content_type", "content_title", "type", "source", "timestamp"];
  const catalog = JSON.parse(document.getElementById("catalog").textContent);
  const $ = (id) => document.getElementById(id);
  const form = $("filters");
  const status = $("status");
  const tbody = $("rows");
  const prevButton = $("previous");
  const nextButton = $("next");
  const contentTitles = new Map(); // content id -> title, for chips
  const choiceLists = { panorama: { values: [], labels: [] }, "course-group": { values: [], labels: [] }, "content-type": { values: [], labels: [] } };
  let applied = null; // the filters of the report on screen
  let pages = []; // cursors of the pages seen so far ("" for the first)
  let page = 0;
  let nextCursor = null;
  let generation = 0; // answers to an older request are dropped

  function browserZone() {
    try { return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC"; } catch (e) { return "UTC"; }
  }

  function fromUrl() {
    const params = new URLSearchParams(window.location.search);
    const state = {};
    for (const key of SINGLE) state[key] = params.get(key) || "";
    for (const key of MULTI) state[key] = params.getAll(key).filter((v) => v !== "");
    if (!state.tz) state.tz = browserZone();
    return state;
  }

  function toQuery(state) {
    const params = new URLSearchParams();
    for (const key of SINGLE) if (state[key]) params.append(key, state[key]);
    for (const key of MULTI) for (const v of state[key]) params.append(key, v);
    return params;
  }

  function setOptions(select, values, labels, chosen) {
    const keep = new Set(chosen);
    select.replaceChildren();
    const seen = new Set();
    values.forEach((value, i) => {
      const option = new Option(labels ? labels[i] : value, value);
      option.selected = keep.has(value);
      select.add(option);
      seen.add(value);
    });
    for (const value of chosen) {  // a value from the URL that the list does not hold (a name, say)
      if (!seen.has(value)) {
        const option = new Option(value, value, true, true);
        select.add(option);
      }
    }
  }

  function selected(select) {
    return Array.from(select.selectedOptions, (o) => o.value);
  }

  function refreshSources(chosen) {
    const types = selected($("f-type"));
    const allowed = [];
    for (const t of (types.length ? types : Object.keys(catalog))) {
      for (const s of catalog[t]) if (!allowed.includes(s)) allowed.push(s);
    }
    const keep = (chosen || selected($("f-source"))).filter((s) => allowed.includes(s));
    setOptions($("f-source"), allowed, null, keep);
  }

  function chips(listId, values, label) {
    const list = $(listId);
    list.replaceChildren();
    for (const value of values) {
      const li = document.createElement("li");
      li.dataset.value = value;
      const text = document.createElement("span");
      text.textContent = label ? label(value) : value;
      const remove = document.createElement("button");
      remove.type = "button";
      remove.textContent = "×";
      remove.setAttribute("aria-label", "Remove " + (label ? label(value) : value));
      remove.addEventListener("click", () => li.remove());
      li.append(text, remove);
      list.append(li);
    }
  }

  function chipValues(listId) {
    return Array.from($(listId).children, (li) => li.dataset.value);
  }

  // The selects whose options come from the choice lists; chosen(key) says what stays chosen.
  function fillChoiceSelects(chosen) {
    for (const key of Object.keys(choiceLists)) {
      const list = choiceLists[key];
      setOptions($("f-" + key), list.values, list.labels, chosen(key));
    }
  }

  function fillControls(state) {
    $("f-from").value = state.from;
    $("f-to").value = state.to;
    $("f-tz").value = state.tz;
    setOptions($("f-type"), Object.keys(catalog), null, state.type);
    refreshSources(state.source);
    fillChoiceSelects((key) => state[key]);
    chips("content-chips", state.content, (id) => contentTitles.get(id) || id);
    chips("learner-chips", state.learner);
  }

  function readControls() {
    const state = {
      from: $("f-from").value, to: $("f-to").value, tz: $("f-tz").value.trim() || browserZone(),
    };
    for (const key of ["panorama", "type", "source", "course-group", "content-type"]) state[key] = selected($("f-" + key));
    const pendingLearner = $("f-learner").value.trim();
    if (pendingLearner) { chips("learner-chips", [...chipValues("learner-chips"), pendingLearner]); $("f-learner").value = ""; }
    state.learner = chipValues("learner-chips");
    addContentFromInput();
    state.content = chipValues("content-chips");
    return state;
  }

  async function getJson(url) {
    const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (response.status === 401) {
      window.location.assign("/ui/sign-in?next=" + encodeURIComponent(window.location.pathname + window.location.search));
      throw new Error("signed out");
    }
    const text = await response.text();
    let body = null;
    try { body = JSON.parse(text); } catch (e) { body = null; }
    if (!response.ok) throw new Error((body && body.message) || ("the server answered " + response.status));
    return { body, response };
  }

  async function loadChoices() {
    const base = REPORT + "/choices/";
    const [panoramas, groups, types] = await Promise.all([
      getJson(base + "panoramas"), getJson(base + "course-groups"), getJson(base + "content-types"),
    ]);
    choiceLists.panorama = { values: panoramas.body.map((p) => p.id), labels: panoramas.body.map((p) => p.name || p.id) };
    choiceLists["course-group"] = { values: groups.body, labels: groups.body };
    choiceLists["content-type"] = { values: types.body, labels: types.body };
  }

  let searchTimer = null;
  async function searchContents() {
    const q = $("f-content").value.trim();
    const { body } = await getJson(REPORT + "/choices/contents?" + new URLSearchParams({ q, limit: "20" }));
    const list = $("content-options");
    list.replaceChildren();
    for (const c of body) {
      contentTitles.set(c.id, c.title);
      const option = document.createElement("option");
      option.value = c.title;
      option.dataset.id = c.id;
      list.append(option);
    }
  }

  function addContentFromInput() {
    const title = $("f-content").value.trim();
    if (!title) return;
    const match = Array.from($("content-options").options).find((o) => o.value === title);
    const id = match ? match.dataset.id : title; // an id typed by hand is an id
    if (!chipValues("content-chips").includes(id)) {
      chips("content-chips", [...chipValues("content-chips"), id], (v) => contentTitles.get(v) || v);
    }
    $("f-content").value = "";
  }

  function renderRows(rows) {
    tbody.replaceChildren();
    if (!rows.length) {
      const tr = document.createElement("tr");
      const td = document.createElement("td");
      td.colSpan = COLUMNS.length;
      td.className = "empty";
      td.textContent = "No actions match these filters.";
      tr.append(td);
      tbody.append(tr);
      return;
    }
    for (const row of rows) {
      const tr = document.createElement("tr");
      for (const key of COLUMNS) {
        const td = document.createElement("td");
        td.textContent = row[key] == null ? "" : String(row[key]);
        tr.append(td);
      }
      tbody.append(tr);
    }
  }

  function nextLink(response) {
    const link = response.headers.get("Link");
    const match = link && link.match(/<([^>]+)>;\s*rel="next"/);
    return match ? new URL(match[1], window.location.href).searchParams.get("cursor") : null;
  }

  function busy(on, text) {
    $("report").setAttribute("aria-busy", on ? "true" : "false");
    status.classList.remove("error");
    status.textContent = text;
  }

  async function showPage(index) {
    const mine = ++generation;
    const query = toQuery(applied);
    query.set("format", "json");
    query.set("limit", String(PAGE_SIZE));
    if (pages[index]) query.set("cursor", pages[index]);
    busy(true, "Loading…");
    prevButton.disabled = nextButton.disabled = true;
    try {
      const { body, response } = await getJson(REPORT + "?" + query);
      if (mine !== generation) return;
      page = index;
      nextCursor = nextLink(response);
      if (nextCursor) pages[index + 1] = nextCursor;
      renderRows(body);
      prevButton.disabled = page === 0;
      nextButton.disabled = !nextCursor;
      busy(false, "");
      await showCount(mine, body.length);
    } catch (err) {
      if (mine !== generation) return;
      renderRows([]);
      status.classList.add("error");
      status.textContent = "The report could not be generated: " + err.message;
      $("report").setAttribute("aria-busy", "false");
    }
  }

  async function showCount(mine, shown) {
    const { body } = await getJson(REPORT + "/count?" + toQuery(applied));
    if (mine !== generation) return;
    const first = shown ? page * PAGE_SIZE + 1 : 0;
    const last = page * PAGE_SIZE + shown;
    $("count").textContent = body.rows.toLocaleString() + (body.rows === 1 ? " matching row" : " matching rows");
    $("range").textContent = shown ? `Rows ${first.toLocaleString()}–${last.toLocaleString()}` : "";
  }

  function apply(state, push) {
    applied = state;
    const query = toQuery(state);
    if (push) window.history.pushState(null, "", "?" + query);
    else window.history.replaceState(null, "", "?" + query);
    for (const [id, fmt] of [["download-csv", "csv"], ["download-json", "json"]]) {
      const q = new URLSearchParams(query);
      q.set("format", fmt);
      $(id).href = REPORT + "?" + q;
    }
    pages = [""];
    showPage(0);
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    apply(readControls(), true);
  });
  $("f-type").addEventListener("change", () => refreshSources());
  $("f-content").addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => searchContents().catch(() => {}), 200);
  });
  $("f-content").addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); addContentFromInput(); } });
  $("add-content").addEventListener("click", addContentFromInput);
  $("add-learner").addEventListener("click", () => {
    const v = $("f-learner").value.trim();
    if (v) chips("learner-chips", [...chipValues("learner-chips"), v]);
    $("f-learner").value = "";
  });
  $("f-learner").addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); $("add-learner").click(); } });
  prevButton.addEventListener("click", () => { if (page > 0) showPage(page - 1); });
  nextButton.addEventListener("click", () => { if (nextCursor) showPage(page + 1); });
  window.addEventListener("popstate", () => { const s = fromUrl(); fillControls(s); applied = s; pages = [""]; showPage(0); });

  const zones = $("tz-list");
  if (Intl.supportedValuesOf) for (const z of Intl.supportedValuesOf("timeZone")) zones.append(new Option(z));

  (async function start() {
    const state = fromUrl();
    const choices = loadChoices(); // beside the first page, not before it
    fillControls(state); // the filters from the URL, shown at once (a chosen value is kept as an option)
    apply(state, false); // generated as soon as the page opens
    try { await choices; } catch (err) { return; /* the report says why, if it is the store */ }
    fillChoiceSelects((key) => selected($("f-" + key))); // what is chosen by now stays chosen
  })();
})();
