from django.apps import AppConfig


class BookingsConfig(AppConfig):
    name = "bookings"
    verbose_name = "Bookings"

    def ready(self) -> None:
        # Declare what is live: the fragment kinds, what each write says, how it is routed.
        from bookings.live import calendars, capture, grids, lists, routing, schedule  # noqa: F401

        capture.connect()
