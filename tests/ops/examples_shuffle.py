"""Examples of the SPOS ops (ops/shuffle.py) for the shared op tests: params and input shapes (no batch)."""

EXAMPLES = {
    "shuffle_3x3": [
        ({"channels": 8}, [(8, 6, 6)]),
        ({"channels": 12, "stride": 2}, [(4, 7, 7)]),
        ({"channels": 8, "stride": 2, "mid_channels": 3, "affine": False}, [(6, 8, 5)]),
    ],
    "shuffle_5x5": [({"channels": 8}, [(8, 6, 6)]), ({"channels": 10, "stride": 2}, [(6, 9, 9)])],
    "shuffle_7x7": [({"channels": 6, "mid_channels": 5}, [(6, 5, 5)]), ({"channels": 16, "stride": 2}, [(8, 8, 8)])],
    "shuffle_xception": [
        ({"channels": 8}, [(8, 6, 6)]),
        ({"channels": 12, "stride": 2}, [(4, 7, 7)]),
        ({"channels": 10, "mid_channels": 2, "affine": False}, [(4, 5, 5)]),
    ],
    "channel_shuffle": [({}, [(4, 3, 3)]), ({"groups": 3}, [(6, 2, 5)]), ({"groups": 2}, [(8,)])],
    "shuffle_head": [({"num_classes": 10}, [(8, 3, 3)]), ({"num_classes": 3, "dropout": 0.0}, [(4, 1, 1)])],
}
