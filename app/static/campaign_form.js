// The campaign editor's small helpers (no framework, no inline script: the CSP allows only this file):
// repeated rows (add, remove, reorder), the prize kind on its row, and the province → city → district
// picker, which loads children from /ops/campaigns/regions. Every change tells the live preview.
(function () {
  "use strict";

  function changed() { document.body.dispatchEvent(new Event("rows-changed")); }

  function renumber(list) {
    list.querySelectorAll("[data-row] .row-number").forEach(function (el, i) { el.textContent = String(i + 1); });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-row-action]");
    if (!button) return;
    event.preventDefault();
    var action = button.dataset.rowAction;
    if (action === "add") {
      var list = document.getElementById(button.dataset.list);
      var template = document.getElementById(button.dataset.template);
      list.appendChild(template.content.cloneNode(true));
      renumber(list);
      var added = list.lastElementChild && list.lastElementChild.querySelector("input, select");
      if (added) added.focus();
      changed();
      return;
    }
    var row = button.closest("[data-row]");
    if (!row) return;
    var parent = row.parentElement;
    if (action === "remove") row.remove();
    if (action === "up" && row.previousElementSibling) parent.insertBefore(row, row.previousElementSibling);
    if (action === "down" && row.nextElementSibling) parent.insertBefore(row.nextElementSibling, row);
    renumber(parent);
    changed();
  });

  document.addEventListener("change", function (event) {
    var select = event.target;
    if (select.matches("select[name=prize_kind]")) {
      select.closest("[data-row]").dataset.kind = select.value;
    }
    if (select.matches("select[name=audience]")) pickRoles(select.value);
  });

  // The code roles each audience draws on (rules/campaign_fields.py B_ROLES): choosing a B-side audience
  // ticks its roles, going back to consumers drops the case role.
  var AUDIENCE_ROLES = { store_open_case: ["case"], waiter_open_bottle: ["inner"] };

  function pickRoles(audience) {
    var boxes = document.querySelectorAll("input[name=roles]");
    var wanted = AUDIENCE_ROLES[audience];
    boxes.forEach(function (box) {
      if (wanted) box.checked = wanted.indexOf(box.value) >= 0;
      else if (box.value === "case" && box.checked) {
        box.checked = false;
        var inner = document.querySelector("input[name=roles][value=inner]");
        if (inner) inner.checked = true;
      }
    });
    changed();
  }

  // --- regions -----------------------------------------------------------------------------------------

  function fill(select, items, emptyLabel) {
    select.innerHTML = "";
    var blank = document.createElement("option");
    blank.value = "";
    blank.textContent = emptyLabel;
    select.appendChild(blank);
    items.forEach(function (item) {
      var option = document.createElement("option");
      option.value = item.prefix;
      option.textContent = item.name;
      option.dataset.hasChildren = item.has_children ? "1" : "";
      select.appendChild(option);
    });
    select.disabled = items.length === 0;
  }

  function picked(box) {
    var names = [], prefix = "";
    box.querySelectorAll("select[data-region-level]").forEach(function (select) {
      if (select.value) {
        prefix = select.value;
        names.push(select.options[select.selectedIndex].textContent);
      }
    });
    return { prefix: prefix, name: names.join(" ") };
  }

  function addChip(fieldset, which, choice) {
    var chips = fieldset.querySelector("#chips-" + which);
    if (!chips || !choice.prefix) return;
    var name = chips.dataset.name;
    if (chips.querySelector('input[value="' + choice.prefix + '"]')) return;
    var chip = document.createElement("span");
    chip.className = "chip";
    var input = document.createElement("input");
    input.type = "hidden";
    input.name = name;
    input.value = choice.prefix;
    var code = document.createElement("code");
    code.textContent = choice.prefix;
    var remove = document.createElement("button");
    remove.type = "button";
    remove.className = "link";
    remove.dataset.chipRemove = "";
    remove.setAttribute("aria-label", "×");
    remove.textContent = "×";
    chip.append(input, choice.name + " ", code, remove);
    chips.appendChild(chip);
    changed();
  }

  document.addEventListener("click", function (event) {
    var remove = event.target.closest("[data-chip-remove]");
    if (remove) {
      event.preventDefault();
      remove.closest(".chip").remove();
      changed();
      return;
    }
    var add = event.target.closest("[data-region-add]");
    if (add) {
      event.preventDefault();
      var fieldset = add.closest("[data-regions-url]");
      addChip(fieldset, add.dataset.regionAdd, picked(fieldset));
    }
  });

  document.addEventListener("change", function (event) {
    var select = event.target;
    if (!select.matches("select[data-region-level]")) return;
    var fieldset = select.closest("[data-regions-url]");
    var level = Number(select.dataset.regionLevel);
    var below = [2, 3].filter(function (l) { return l > level; }).map(function (l) {
      return fieldset.querySelector('select[data-region-level="' + l + '"]');
    });
    below.forEach(function (s) { fill(s, [], s.options[0] ? s.options[0].textContent : ""); });
    var single = fieldset.dataset.single;
    if (single) {  // simulate: the picker fills one adcode field
      var choice = picked(fieldset);
      var field = fieldset.querySelector('input[name="' + single + '"]');
      field.value = choice.prefix ? choice.prefix.padEnd(6, "0") : "";
      var label = fieldset.querySelector("[data-region-name]");
      if (label) label.textContent = choice.name;
    }
    var option = select.options[select.selectedIndex];
    if (!select.value || level >= 3 || (option && option.dataset.hasChildren === "")) return;
    var next = below[0];
    fetch(fieldset.dataset.regionsUrl + "?parent=" + encodeURIComponent(select.value), {credentials: "same-origin"})
      .then(function (resp) { return resp.ok ? resp.json() : []; })
      .then(function (items) {
        var sixDigits = items.length && items[0].prefix.length === 6;
        var target = next;
        if (level === 1 && sixDigits) {  // a municipality: its districts come straight under it
          fill(below[0], [], below[0].options[0].textContent);
          target = below[1];
        }
        fill(target, items, target.options[0] ? target.options[0].textContent : "");
      });
  });
})();
