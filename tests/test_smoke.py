import pytest

from bookings.services import reservation_create


@pytest.mark.django_db
def test_player_reserves_a_group_session(world):
    reservation = reservation_create(
        player=world.player, session=world.session, actor=world.player_user
    )
    world.session.refresh_from_db()
    assert reservation.is_active
    assert world.session.reserved_count == 1
