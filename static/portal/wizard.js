// The wizard: a step shown again with errors puts the keyboard focus on their summary.
(function () {
  "use strict";
  var summary = document.getElementById("error-summary");
  if (summary) summary.focus();
})();
