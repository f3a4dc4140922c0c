"""The forms of the pages that take more than a button, one module per page family."""
