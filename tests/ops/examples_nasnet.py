"""Examples of the ops of :mod:`ops.nasnet` for the shared op tests (shapes without batch)."""

EXAMPLES = {
    "conv_1x1": [({}, [(4, 8, 8)]), ({"stride": 2, "affine": False}, [(3, 7, 7)])],
    "conv_3x3": [({}, [(4, 8, 8)]), ({"stride": 2}, [(3, 7, 5)]), ({"affine": False}, [(2, 1, 1)])],
    "conv_3x1_1x3": [({}, [(4, 8, 8)]), ({"stride": 2}, [(3, 7, 6)]), ({"stride": 2, "affine": False}, [(2, 1, 3)])],
    "max_pool_5x5": [({}, [(4, 8, 8)]), ({"stride": 2, "bn": True}, [(3, 7, 7)]), ({"stride": 2}, [(2, 1, 2)])],
    "max_pool_7x7": [({}, [(4, 8, 8)]), ({"stride": 2}, [(3, 9, 6)]), ({"bn": True}, [(2, 3, 3)])],
}
