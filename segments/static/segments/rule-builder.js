/* The rule builder (segments/widgets.py): rows of field, operator and value in AND / OR groups,
 * written as JSON into the textarea the form saves. The server checks the rule on save (the source
 * of truth); this only makes a rule a person can read and edit.
 *
 * Every rule the builder makes reads back the same: a rule is shown in the builder only when
 * reading it and writing it again gives the same JSON; any other opens as JSON with a note. */
(function () {
  "use strict";

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([key, value]) => {
      if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value);
    });
    (children || []).forEach((child) => child && node.appendChild(child));
    return node;
  }

  // The same JSON value, whatever the order of keys (PostgreSQL's jsonb keeps its own order).
  function same(a, b) {
    const sorted = (v) => (Array.isArray(v) ? v.map(sorted) : v && typeof v === "object"
      ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sorted(v[k])])) : v);
    return JSON.stringify(sorted(a)) === JSON.stringify(sorted(b));
  }

  // Percent shown for a share: 0.6 -> 60 (rounded so that 0.07 does not show as 7.000000000000001).
  function percentOf(share) {
    return Number((share * 100).toFixed(10));
  }

  // Not the hidden attribute: the admin's own styles (errornote) would show the node all the same.
  function shown(node, visible) {
    node.style.display = visible ? "" : "none";
  }

  function Builder(root) {
    const config = JSON.parse(document.getElementById(root.dataset.config).textContent);
    const text = config.text;
    const textarea = root.querySelector("textarea");
    const fields = Object.fromEntries(config.fields.map((f) => [f.name, f]));
    let countryNames = null;
    try {
      countryNames = new Intl.DisplayNames([document.documentElement.lang || "en"], {type: "region"});
    } catch (e) { /* an old browser shows the codes */ }

    const tree = el("div", {class: "rb-tree"});
    const note = el("p", {class: "rb-note errornote"});
    shown(note, false);  // not a style attribute: the Content Security Policy refuses those
    const count = el("div", {class: "rb-count", "aria-live": "polite"});
    const toggle = el("a", {href: "#", class: "rb-toggle"});
    root.insertBefore(tree, textarea);
    root.insertBefore(note, textarea);
    root.appendChild(el("p", {}, [toggle]));
    root.appendChild(count);

    let model = null; // {group: "all"|"any", bare: bool, parts: [...]} | condition {field, op, value}
    let advanced = false;

    // --- JSON -> model (throws with a reason when the builder cannot show a part) ---
    function fail(template, path, detail) {
      const number = path.length ? path.map((i) => i + 1).join(".") : "1";
      throw new Error(template.replace("%(number)s", number).replace("%(detail)s", detail));
    }

    function readGroup(rule, path) {
      const key = "all" in rule ? "all" : "any";
      if (Object.keys(rule).length !== 1 || !Array.isArray(rule[key]) || !rule[key].length) {
        fail(text.badGroup, path, JSON.stringify(rule).slice(0, 80));
      }
      return {group: key, bare: false, parts: rule[key].map((part, i) => readPart(part, path.concat([i])))};
    }

    function readPart(rule, path) {
      if (rule === null || typeof rule !== "object" || Array.isArray(rule)) fail(text.badPart, path, JSON.stringify(rule));
      if ("all" in rule || "any" in rule) return readGroup(rule, path);
      const field = fields[rule.field];
      if (!field) fail(text.badField, path, JSON.stringify(rule.field));
      const ops = config.operators[field.kind].map((o) => o[0]);
      if (!("op" in rule)) fail(text.noOp, path, "");
      if (!ops.includes(rule.op)) fail(text.badOp, path, JSON.stringify(rule.op));
      const extra = Object.keys(rule).filter((k) => !["field", "op", "value"].includes(k));
      if (extra.length) fail(text.badPart, path, extra.join(", "));
      if (!fits(field, rule.op, rule.value)) fail(text.badValue, path, JSON.stringify(rule.value));
      return {field: rule.field, op: rule.op, value: rule.value};
    }

    function read(rule) {
      if (rule === null || typeof rule !== "object" || Array.isArray(rule)) fail(text.badPart, [], JSON.stringify(rule));
      if (!Object.keys(rule).length) return {group: "all", bare: true, parts: []};
      if ("all" in rule || "any" in rule) return readGroup(rule, []);
      return {group: "all", bare: true, parts: [readPart(rule, [])]};
    }

    // Whether the value's inputs can show this value (else the rule is shown as JSON, not mangled).
    function fits(field, op, value) {
      const isText = (v) => typeof v === "string";
      if (op === "is empty" || field.kind === "bool") return typeof value === "boolean";
      if (op === "in" || op === "not in") return Array.isArray(value) && value.every(isText);
      if (value === null) return true; // not filled in yet: the server names it on save
      if (op.endsWith("days ago")) return Number.isInteger(value);
      if (field.kind === "choice" || field.kind === "text" || field.kind === "date") return isText(value);
      return typeof value === "number";
    }

    // --- model -> JSON ---
    function writePart(part) {
      if (part.group) return {[part.group]: part.parts.map(writePart)};
      return {field: part.field, op: part.op, value: part.value};
    }

    function write() {
      if (model.bare && model.parts.length === 0) return {};
      if (model.bare && model.parts.length === 1 && !model.parts[0].group) return writePart(model.parts[0]);
      return writePart(model);
    }

    // --- drawing ---
    function changed() {
      textarea.value = JSON.stringify(write());
      recount();
    }

    function fieldSelect(part, redraw) {
      const select = el("select", {class: "rb-field", "aria-label": text.chooseField, onchange: () => {
        const field = fields[select.value];
        part.field = field.name;
        part.op = config.operators[field.kind][0][0];
        part.value = defaultValue(field, part.op);
        redraw();
        changed();
      }});
      config.fields.forEach((f) => select.appendChild(el("option", {value: f.name, text: f.label})));
      select.value = part.field;
      return select;
    }

    function defaultValue(field, op) {
      if (op === "is empty" || field.kind === "bool") return true;
      if (op === "in" || op === "not in") return [];
      if (field.kind === "choice" && field.choices.length) return field.choices[0][0];
      return null;
    }

    function opSelect(part, redraw) {
      const field = fields[part.field];
      const select = el("select", {class: "rb-op", onchange: () => {
        const wasList = Array.isArray(part.value);
        const relative = (op) => op.endsWith("days ago");
        const before = part.op;
        part.op = select.value;
        const isList = part.op === "in" || part.op === "not in";
        if (part.op === "is empty" || before === "is empty" || wasList !== isList ||
            relative(before) !== relative(part.op)) {
          part.value = isList && part.value !== null && !wasList && before !== "is empty" ? [part.value]
            : defaultValue(field, part.op);
        }
        redraw();
        changed();
      }});
      config.operators[field.kind].forEach(([op, label]) => select.appendChild(el("option", {value: op, text: label})));
      select.value = part.op;
      return select;
    }

    function choiceLabel(field, code, label) {
      if (field.country && countryNames) {
        try { return countryNames.of(code) + " (" + code + ")"; } catch (e) { return code; }
      }
      return label;
    }

    function valueInput(part) {
      const field = fields[part.field];
      const set = (value) => { part.value = value; changed(); };
      const number = (value) => (value === "" ? null : Number(value));
      if (part.op === "is empty" || field.kind === "bool") {
        const select = el("select", {class: "rb-value", onchange: () => set(select.value === "true")});
        select.appendChild(el("option", {value: "true", text: text.yes}));
        select.appendChild(el("option", {value: "false", text: text.no}));
        select.value = String(part.value === true);
        return [select];
      }
      if (field.kind === "choice") {
        const list = part.op === "in" || part.op === "not in";
        const select = el("select", {class: "rb-value", onchange: () => {
          set(list ? Array.from(select.selectedOptions, (o) => o.value) : select.value);
        }});
        if (list) { select.multiple = true; select.size = Math.min(6, field.choices.length + 1); }
        const known = field.choices.map((c) => c[0]);
        const values = list ? (Array.isArray(part.value) ? part.value : []) : [part.value];
        // A code the lists do not hold (a country no client has yet) is kept and shown as it is.
        const extra = values.filter((v) => typeof v === "string" && !known.includes(v)).map((v) => [v, v]);
        field.choices.concat(extra).forEach(([code, label]) => {
          const option = el("option", {value: code, text: choiceLabel(field, code, label)});
          option.selected = values.includes(code);
          select.appendChild(option);
        });
        if (!list) select.value = part.value;
        return [select];
      }
      if (field.kind === "date" && !part.op.endsWith("days ago")) {
        const input = el("input", {type: "date", class: "rb-value", oninput: () => set(input.value || null)});
        input.value = part.value || "";
        return [input];
      }
      if (field.kind === "text") {
        const list = part.op === "in" || part.op === "not in";
        const input = el("input", {type: "text", class: "rb-value", oninput: () => {
          set(list ? input.value.split(",").map((v) => v.trim()).filter((v) => v) : input.value);
        }});
        if (list) input.placeholder = text.listHint;
        input.value = list ? (part.value || []).join(", ") : (part.value || "");
        return [input];
      }
      const percent = field.kind === "percent";
      const input = el("input", {type: "number", step: "any", class: "rb-value", oninput: () => {
        const value = number(input.value);
        set(value === null ? null : percent ? value / 100 : value);
      }});
      if (part.value !== null && part.value !== undefined) input.value = percent ? percentOf(part.value) : part.value;
      const unit = percent ? "%" : field.kind === "money" ? config.currency : part.op.endsWith("days ago") ? text.daysAgo : "";
      return unit ? [input, el("span", {class: "rb-unit", text: unit})] : [input];
    }

    function drawCondition(part, parent) {
      const row = el("li", {class: "rb-condition"});
      function redraw() {
        row.replaceChildren(fieldSelect(part, redraw), opSelect(part, redraw), ...valueInput(part),
          el("button", {type: "button", class: "rb-remove", title: text.remove, "aria-label": text.remove, text: "×",
                        onclick: () => { parent.parts.splice(parent.parts.indexOf(part), 1); draw(); changed(); }}));
      }
      redraw();
      return row;
    }

    function drawGroup(group, parent) {
      const box = el("div", {class: "rb-group"});
      const kind = el("select", {class: "rb-combine", onchange: () => { group.group = kind.value; changed(); }});
      kind.appendChild(el("option", {value: "all", text: text.all}));
      kind.appendChild(el("option", {value: "any", text: text.any}));
      kind.value = group.group;
      const list = el("ul", {class: "rb-parts"});
      group.parts.forEach((part) => list.appendChild(part.group ? el("li", {}, [drawGroup(part, group)])
        : drawCondition(part, group)));
      if (!group.parts.length) list.appendChild(el("li", {class: "rb-empty help", text: text.empty}));
      const first = config.fields[0];
      const add = el("button", {type: "button", class: "rb-add-condition", text: text.addCondition, onclick: () => {
        group.parts.push({field: first.name, op: config.operators[first.kind][0][0],
                          value: defaultValue(first, config.operators[first.kind][0][0])});
        draw(); changed();
      }});
      const addGroup = el("button", {type: "button", class: "rb-add-group", text: text.addGroup, onclick: () => {
        group.parts.push({group: group.group === "all" ? "any" : "all", bare: false, parts: []});
        draw(); changed();
      }});
      const buttons = [add, addGroup];
      if (parent) {
        buttons.push(el("button", {type: "button", class: "rb-remove-group", text: text.removeGroup, onclick: () => {
          parent.parts.splice(parent.parts.indexOf(group), 1); draw(); changed();
        }}));
      }
      box.append(kind, list, el("div", {class: "rb-buttons"}, buttons));
      return box;
    }

    function draw() {
      tree.replaceChildren(drawGroup(model, null));
    }

    // --- the two views ---
    function showBuilder() {
      let rule;
      try {
        rule = textarea.value.trim() ? JSON.parse(textarea.value) : {};
      } catch (e) {
        return showAdvanced(text.badJson);
      }
      try {
        model = read(rule);
        if (!same(write(), rule)) throw new Error(text.differs);
      } catch (e) {
        return showAdvanced(e.message);
      }
      textarea.value = JSON.stringify(write()); // the same rule, written as the builder writes it
      advanced = false;
      shown(note, false);
      shown(textarea, false);
      shown(tree, true);
      toggle.textContent = text.advanced;
      draw();
      recount();
    }

    function showAdvanced(reason) {
      advanced = true;
      shown(note, Boolean(reason));
      note.textContent = reason ? text.cannotShow.replace("%(reason)s", reason) : "";
      shown(textarea, true);
      shown(tree, false);
      toggle.textContent = text.builder;
      recount();
    }

    toggle.addEventListener("click", (event) => {
      event.preventDefault();
      if (advanced) showBuilder(); else showAdvanced("");
    });

    // --- the live count (debounced: one request when the typing stops) ---
    let timer;
    let asked = 0;
    function recount() {
      clearTimeout(timer);
      timer = setTimeout(() => {
        const rule = textarea.value.trim();
        if (!rule || rule === "{}") { count.textContent = ""; return; }
        const mine = ++asked;
        fetch(config.countUrl + "?rule=" + encodeURIComponent(rule), {credentials: "same-origin"})
          .then((response) => response.json())
          .then((answer) => {
            if (mine !== asked) return; // a newer rule was asked for meanwhile
            count.classList.toggle("rb-error", Boolean(answer.error));
            count.textContent = answer.error ? answer.error
              : text.matching + " " + answer.count + (config.countHint ? " (" + config.countHint + ")" : "");
          })
          .catch(() => { count.textContent = ""; });
      }, 400);
    }
    textarea.addEventListener("input", recount);

    showBuilder();
  }

  function start() {
    document.querySelectorAll(".rule-builder").forEach(Builder);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
