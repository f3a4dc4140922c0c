from django.urls import path

from bookings.views import actions, auth, coaching, pages

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
    path("coach/dashboard/", coaching.coach_dashboard, name="coach_dashboard"),
    path("coaches/<int:coach_id>/trend/", coaching.coach_trend, name="coach_trend"),
    path("coaches/<int:coach_id>/goals/new/", coaching.goal_new, name="goal_new"),
    path("goals/<int:goal_id>/edit/", coaching.goal_edit, name="goal_edit"),
    path("sessions/<int:session_id>/walk-in/", coaching.walk_in, name="walk_in"),
    path("feedback/<int:attendance_id>/", coaching.feedback, name="feedback"),
    path("coach/schedule/", pages.coach_schedule, name="coach_schedule"),
    path("staff/", pages.staff_home, name="staff_home"),
    path("staff/calendar/", pages.staff_calendar, name="staff_calendar"),
    path("staff/coaches/<int:coach_id>/", coaching.staff_coach, name="staff_coach"),
    path("staff/players/<int:player_id>/", pages.staff_player, name="staff_player"),
    path("staff/players/<int:player_id>/book/", pages.staff_player_book, name="staff_player_book"),
    path("reserve/", actions.reserve, name="reserve"),
    path("book/", actions.book, name="book"),
    path("cancel/", actions.cancel, name="cancel"),
    path("sessions/cancel/", actions.session_cancel, name="session_cancel"),
    path("attendance/mark/", actions.attendance_mark, name="attendance_mark"),
    path("goals/step/", actions.goal_step, name="goal_step"),
]
