"""What of bookings is live: the fragments pages show, and how a write reaches them.

- capture.py: what each published model's save or delete says (an event, from the row alone);
- routing.py: after COMMIT, what a batch of events changes, for whom, with which toasts;
- changes.py: a change, as the fragments read it;
- lists.py, grids.py, calendars.py: the fragment kinds (key, audience, render).
"""
