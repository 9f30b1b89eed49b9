// The generation page: choosing a prompt set shows its progress at once (without a script, the form's
// Show button does it).
document.querySelectorAll("select[data-submit-on-change]").forEach(function (select) {
  select.addEventListener("change", function () { select.form.submit(); });
});
