from django.apps import AppConfig


class BookingsConfig(AppConfig):
    name = "bookings"
    verbose_name = "Bookings"

    def ready(self) -> None:
        # Declare what is live: the fragment kinds, what each write says, how it is routed.
        from bookings.live import (  # noqa: F401
            calendars,
            capture,
            dashboard,
            desk,
            grids,
            inbox,
            lists,
            metrics,
            routing,
            schedule,
        )

        capture.connect()
