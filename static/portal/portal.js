// Small behaviours of the customer pages. Everything works without them; they make it quicker.
(function () {
  "use strict";

  function on(selector, event, handler) {
    document.addEventListener(event, function (e) {
      var target = e.target.closest(selector);
      if (target) handler(e, target);
    });
  }

  // Live count of a text field against its limits.
  function updateCounter(field) {
    var out = document.getElementById(field.dataset.counter);
    if (!out) return;
    var n = field.value.trim().length, min = +field.dataset.min, max = +field.dataset.max;
    // A field that may be left empty (the description) is short only once something is written.
    var short = n < min && (n > 0 || field.required);
    out.textContent = n + " / " + max + " characters" + (short ? " (at least " + min + ")" : "");
    out.classList.toggle("text-danger", short || n > max);
  }
  on("[data-counter]", "input", function (e, field) { updateCounter(field); });

  // Show only the fields that apply to the choice made (purchase-order type, technical contact).
  function applyToggles() {
    document.querySelectorAll("[data-show-when]").forEach(function (block) {
      var control = document.querySelector(block.dataset.showWhen);
      if (!control) return;
      var checked = control.querySelector("input:checked");
      var value = control.matches("select, input") ? control.value : (checked ? checked.value : "");
      var show = block.dataset.values.split(" ").indexOf(value) >= 0;
      block.hidden = !show;
    });
  }
  document.addEventListener("change", applyToggles);

  // Visitor rows: add from the empty template, remove a row.
  function addRow(button) {
    var total = document.getElementById(button.dataset.total);
    var template = document.getElementById(button.dataset.template);
    var index = +total.value;
    var wrapper = document.createElement("div");
    wrapper.innerHTML = template.innerHTML.replace(/__prefix__/g, index).replace(/__number__/g, index + 1);
    var row = wrapper.firstElementChild;
    document.getElementById(button.dataset.rows).appendChild(row);
    total.value = index + 1;
    return row;
  }
  on("[data-add-row]", "click", function (e, button) {
    var first = addRow(button).querySelector("input");
    if (first) first.focus();
  });

  // Several visitors at once: rows pasted from a spreadsheet (tabs) or CSV (commas or semicolons).
  var PERSON_FIELDS = ["first_name", "last_name", "company_name", "email", "phone"];
  function splitLine(line, separator) {
    var cells = [], cell = "", quoted = false;
    for (var i = 0; i < line.length; i++) {
      var c = line[i];
      if (quoted) {
        if (c === '"' && line[i + 1] === '"') { cell += '"'; i++; }
        else if (c === '"') quoted = false;
        else cell += c;
      } else if (c === '"' && cell === "") quoted = true;
      else if (c === separator) { cells.push(cell.trim()); cell = ""; }
      else cell += c;
    }
    cells.push(cell.trim());
    return cells;
  }
  function parseRows(text) {
    var lines = text.split(/\r?\n/).filter(function (l) { return l.trim(); });
    if (!lines.length) return [];
    var sample = lines[0];
    var separator = sample.indexOf("\t") >= 0 ? "\t" : (sample.indexOf(";") >= 0 ? ";" : ",");
    var rows = lines.map(function (l) { return splitLine(l, separator); });
    if (/first|name|vorname|pr[eé]nom/i.test(rows[0][0]) && !/@/.test(rows[0].join(" "))) rows.shift();
    return rows;
  }
  function isBlank(row) {
    return Array.prototype.every.call(row.querySelectorAll("input[type=text], input[type=email], input[type=tel], input:not([type])"), function (i) { return !i.value.trim(); });
  }
  function addPeople(text, status) {
    var button = document.getElementById("add-row-button");
    var rowsBox = document.getElementById(button.dataset.rows);
    var people = parseRows(text);
    people.forEach(function (cells) {
      var blank = Array.prototype.filter.call(rowsBox.querySelectorAll("[data-row]"), isBlank)[0];
      var row = blank || addRow(button);
      PERSON_FIELDS.forEach(function (name, i) {
        var input = row.querySelector("[name$='-" + name + "']");
        if (input) input.value = cells[i] || "";
      });
    });
    status.textContent = people.length
      ? "Added " + people.length + (people.length === 1 ? " person" : " people") + "; checking each row…"
      : "No rows found: write one person per line.";
    // The rows are checked at once (htmx): the answer puts each row's errors at it and says which need a correction.
    if (people.length && window.htmx) window.htmx.trigger(rowsBox, "visitors-added");
    return people.length;
  }
  on("[data-paste-rows]", "click", function (e, button) {
    var area = document.getElementById(button.dataset.pasteRows);
    if (addPeople(area.value, document.getElementById("paste-status"))) area.value = "";
  });
  on("[data-paste-file]", "change", function (e, input) {
    var file = input.files[0];
    if (!file) return;
    var reader = new FileReader();
    reader.onload = function () { addPeople(String(reader.result), document.getElementById("paste-status")); input.value = ""; };
    reader.readAsText(file);
  });
  on("[data-remove-row]", "click", function (e, button) {
    var row = button.closest("[data-row]");
    var rows = row.parentNode;
    row.remove();
    renumber(rows);
    var add = document.querySelector("[data-add-row]");
    if (add) add.focus();
  });
  // Keep the formset's rows numbered 0..n-1 so that nothing removed comes back.
  function renumber(rows) {
    var prefix = rows.dataset.prefix;
    var pattern = new RegExp(prefix + "-(\\d+)-");
    Array.prototype.forEach.call(rows.querySelectorAll("[data-row]"), function (row, index) {
      row.querySelectorAll("[name], [id], [for], [aria-describedby]").forEach(function (el) {
        ["name", "id", "for", "aria-describedby"].forEach(function (attr) {
          var value = el.getAttribute(attr);
          if (value) el.setAttribute(attr, value.replace(new RegExp(pattern.source, "g"), prefix + "-" + index + "-"));
        });
      });
      var heading = row.querySelector("[data-row-title]");
      if (heading) heading.textContent = "Person " + (index + 1);
      var remove = row.querySelector("[data-remove-row]");
      if (remove) remove.setAttribute("aria-label", "Remove person " + (index + 1));
    });
    document.getElementById("id_" + prefix + "-TOTAL_FORMS").value = rows.querySelectorAll("[data-row]").length;
  }

  // Attachments: check the type, size and count here, then upload; the server checks the content again.
  on("#attachment-input", "change", function (e, input) {
    var errors = document.getElementById("attachment-errors");
    var list = document.getElementById("attachment-list");
    errors.innerHTML = "";
    var extensions = input.dataset.extensions.split(" ");
    var maxBytes = +input.dataset.maxBytes, maxCount = +input.dataset.maxCount;
    Array.prototype.forEach.call(input.files, function (file) {
      var ext = file.name.indexOf(".") >= 0 ? file.name.split(".").pop().toLowerCase() : "";
      var problem = null;
      if (list.querySelectorAll("[data-attachment]").length >= maxCount) {
        problem = file.name + ": at most " + maxCount + " attachments; remove one first.";
      } else if (extensions.indexOf(ext) < 0) {
        problem = file.name + ": ." + (ext || "(none)") + " files are not accepted; use one of " + extensions.join(", ") + ".";
      } else if (file.size > maxBytes) {
        problem = file.name + " is " + (file.size / 1048576).toFixed(1) + " MB; attachments may be at most " + (maxBytes / 1048576) + " MB.";
      } else if (file.size === 0) {
        problem = file.name + " is empty; attach a file with content.";
      }
      if (problem) { addError(errors, problem); return; }
      var data = new FormData();
      data.append("file", file);
      var status = document.getElementById("attachment-status");
      status.textContent = "Uploading " + file.name + "…";
      fetch(input.dataset.url, {
        method: "POST", body: data, credentials: "same-origin",
        headers: { "X-CSRFToken": document.querySelector("[name=csrfmiddlewaretoken]").value },
      }).then(function (response) {
        return response.json().then(function (body) { return { ok: response.ok, body: body }; });
      }).then(function (result) {
        status.textContent = "";
        if (!result.ok) { (result.body.errors || ["The upload failed."]).forEach(function (m) { addError(errors, m); }); return; }
        list.insertAdjacentHTML("beforeend", result.body.html);
        status.textContent = file.name + " attached.";
      }).catch(function () { status.textContent = ""; addError(errors, file.name + ": the upload failed; try again."); });
    });
    input.value = "";
  });
  function addError(container, message) {
    var p = document.createElement("p");
    p.className = "mb-1";
    p.textContent = message;
    container.appendChild(p);
  }
  on("[data-remove-attachment]", "click", function (e, button) {
    button.closest("[data-attachment]").remove();
    document.getElementById("attachment-input").focus();
  });

  // Narrow a long list of people to the ones whose name matches what is typed.
  on("[data-filter-options]", "input", function (e, input) {
    var words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
    document.getElementById(input.dataset.filterOptions).querySelectorAll(".form-check").forEach(function (item) {
      var text = item.textContent.toLowerCase();
      item.hidden = !words.every(function (w) { return text.indexOf(w) >= 0; });
    });
  });

  on("[data-filter-options]", "keydown", function (e) {
    if (e.key === "Enter") e.preventDefault();  // finding a name must not submit the step
  });

  // A long select (the time zones): show only the options whose name holds every word typed, say how
  // many match, and choose the first match when the chosen one is filtered away.
  on("[data-filter-select]", "input", function (e, input) {
    var select = document.getElementById(input.dataset.filterSelect);
    var words = input.value.toLowerCase().replace(/_/g, " ").split(/\s+/).filter(Boolean);
    var shown = [];
    Array.prototype.forEach.call(select.options, function (option) {
      var text = (option.textContent + " " + option.value).toLowerCase().replace(/_/g, " ");
      var match = !option.value || words.every(function (w) { return text.indexOf(w) >= 0; });
      option.hidden = !match;
      if (match && option.value) shown.push(option);
    });
    Array.prototype.forEach.call(select.querySelectorAll("optgroup"), function (group) {
      group.hidden = !group.querySelector("option:not([hidden])");
    });
    if (words.length && shown.length && shown.indexOf(select.selectedOptions[0]) < 0) select.value = shown[0].value;
    var status = document.getElementById(input.getAttribute("aria-describedby"));
    if (status) {
      status.textContent = !words.length ? "" : shown.length === 0 ? "No time zone matches."
        : shown.length + (shown.length === 1 ? " time zone matches: " : " time zones match; chosen: ") + select.selectedOptions[0].textContent + ".";
    }
  });
  on("[data-filter-select]", "keydown", function (e) {
    if (e.key === "Enter") e.preventDefault();  // finding a zone must not submit the step
  });

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-counter]").forEach(updateCounter);
    applyToggles();
  });
  document.addEventListener("htmx:afterSwap", applyToggles);

  // The live schedule check passed for a field: its error from the last Next no longer applies.
  document.addEventListener("htmx:afterSwap", function (e) {
    if (e.target.id !== "schedule-check") return;
    var live = e.target.querySelector("[data-error-fields]");
    var failing = live ? live.dataset.errorFields.split(" ") : [];
    document.querySelectorAll("#schedule-fields input").forEach(function (input) {
      var name = input.name.split("-").pop();
      if (failing.indexOf(name) >= 0) return;
      var error = document.getElementById(input.id + "_error");
      if (error) error.remove();
      input.classList.remove("is-invalid");
      input.removeAttribute("aria-invalid");
      var described = (input.getAttribute("aria-describedby") || "").split(" ").filter(function (id) { return id && id !== input.id + "_error"; });
      if (described.length) input.setAttribute("aria-describedby", described.join(" ")); else input.removeAttribute("aria-describedby");
    });
    var summary = document.getElementById("error-summary");
    if (summary && !failing.length) summary.remove();
  });
})();
