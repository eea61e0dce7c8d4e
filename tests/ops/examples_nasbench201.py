"""Examples of the NAS-Bench-201 ops (ops/nasbench201.py) for the shared op tests: {op: [(params, [in_shape, ...]), ...]}."""

EXAMPLES = {
    "nb201_resblock": [({"channels": 8}, [(4, 8, 8)]), ({"channels": 3}, [(5, 6, 4)])],
    "nb201_lastact": [({}, [(4, 8, 8)]), ({}, [(3, 1, 1)])],
}
