from django.urls import path

from realtime import views

urlpatterns = [
    path("live/", views.resync, name="live_resync"),
    path("live/<str:key>/", views.fragment, name="live_fragment"),
]
