from firmware.store import History, Store


def test_unknown_stays_unknown():
    store = Store()
    store.update("heatpump_flowT", 38.5, "°C")
    store.mark_unknown("heatpump_flowT", "sensor lost")
    ch = store.channels["heatpump_flowT"]
    assert ch.value is None
    assert ch.status == "sensor lost"
    assert ch.unit == "°C"


def test_sequence_tracks_changes():
    store = Store()
    store.update("a", 1)
    seq = store.seq
    store.update("b", 2)
    assert [ch.name for ch in store.changed_since(seq)] == ["b"]


def test_history_ring_is_bounded_and_oldest_first():
    ring = History(3)
    for i in range(5):
        ring.add(1800000000 + i, float(i) if i != 3 else None)
    items = list(ring.items())
    assert [t for t, _ in items] == [1800000002, 1800000003, 1800000004]
    assert [v for _, v in items] == [2.0, None, 4.0]


def test_store_records_history_of_chosen_channels():
    store = Store(history_size=4, history_channels=("heatpump_elec",))
    store.update("heatpump_elec", 1200)
    store.record_history(1800000000)
    store.update("heatpump_elec", None)
    store.record_history(1800000010)
    assert list(store.history["heatpump_elec"].items()) == [(1800000000, 1200.0), (1800000010, None)]
