// The worklist refreshes itself, but never under a user who is snoozing an alert or moving
// through its buttons with the keyboard: a swap would throw away what they are typing.
function worklistIdle() {
  const rows = document.getElementById("worklist-rows");
  return rows !== null && rows.querySelector("details[open]") === null
    && !rows.contains(document.activeElement);
}

document.addEventListener("htmx:beforeRequest", (event) => {
  if (event.detail.elt.id === "worklist-rows" && event.detail.requestConfig.verb === "get"
      && !worklistIdle()) {
    event.preventDefault();
  }
});
