from django.urls import path

from bookings.views import account, actions, announcements, auth, links, pages

urlpatterns = [
    path("", pages.home, name="home"),
    path("login/", auth.LoginView.as_view(), name="login"),
    path("logout/", auth.LogoutView.as_view(), name="logout"),
    path("switch/", pages.switch_role, name="switch_role"),
    path("player/", pages.player_home, name="player_home"),
    path("player/schedule/", pages.player_schedule, name="player_schedule"),
    path("parent/", pages.parent_home, name="parent_home"),
    path("parent/schedule/", pages.parent_schedule, name="parent_schedule"),
    path("coach/", pages.coach_home, name="coach_home"),
    path("coach/schedule/", pages.coach_schedule, name="coach_schedule"),
    path("staff/", pages.staff_home, name="staff_home"),
    path("staff/calendar/", pages.staff_calendar, name="staff_calendar"),
    path("staff/players/<int:player_id>/", pages.staff_player, name="staff_player"),
    path("staff/players/<int:player_id>/book/", pages.staff_player_book, name="staff_player_book"),
    path("inbox/", announcements.inbox, name="inbox"),
    path("inbox/read/", announcements.inbox_read, name="inbox_read"),
    path("announce/", announcements.announce, name="announce"),
    path("reserve/", actions.reserve, name="reserve"),
    path("book/", actions.book, name="book"),
    path("cancel/", actions.cancel, name="cancel"),
    path("sessions/cancel/", actions.session_cancel, name="session_cancel"),
    path("account/", account.account, name="account"),
    path("account/email/", account.email_settings, name="account_email"),
    path("account/calendar/", account.calendar_settings, name="account_calendar"),
    path("calendar/<str:token>.ics", links.calendar_feed, name="calendar_feed"),
    path("email/unsubscribe/<str:token>/", links.unsubscribe, name="unsubscribe"),
]
