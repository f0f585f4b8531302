"""caretrail: an event-sourced care transitions tracker."""
