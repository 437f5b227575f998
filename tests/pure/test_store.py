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
    ring = History(("a", "b"), 3)
    for i in range(5):
        ring.add(1800000000 + i, [float(i) if i != 3 else None, 10.0 * i])
    items = ring.items("a")
    assert [t for t, _ in items] == [1800000002, 1800000003, 1800000004]
    assert [v for _, v in items] == [2.0, None, 4.0]
    assert [v for _, v in ring.items("b")] == [20.0, 30.0, 40.0]


def test_history_since_selects_recent_samples():
    ring = History(("a",), 4)
    for i in range(6):
        ring.add(1800000000 + 60 * i, [float(i)])
    pos = list(ring.indices(since=1800000000 + 60 * 4))
    assert ring.series("a", pos) == [4.0, 5.0]


def test_store_records_history_of_chosen_channels():
    store = Store(history_size=4, history_channels=("heatpump_elec", "heatpump_cop"))
    store.update("heatpump_elec", 1200)
    store.record_history(1800000000)
    store.update("heatpump_elec", None)
    store.update("heatpump_cop", 3.5)
    store.record_history(1800000010)
    assert store.history.items("heatpump_elec") == [(1800000000, 1200.0), (1800000010, None)]
    assert store.history.items("heatpump_cop") == [(1800000000, None), (1800000010, 3.5)]


def test_no_history_without_size():
    store = Store()
    store.record_history(1800000000)
    assert store.history is None
