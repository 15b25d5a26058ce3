"""``dpt neighbor-stat``: largest neighbor count per type and smallest distance in the data.

Use it to choose ``sel`` (at least the printed counts; DeePMD-kit's "auto" takes them x 1.1,
rounded up to a multiple of 4) and to spot overlapping atoms (a tiny minimal distance).
"""

import dataclasses


def add_parser(subparsers):
    """Register the ``neighbor-stat`` subcommand on an argparse subparsers object."""
    parser = subparsers.add_parser(
        "neighbor-stat",
        help="print the largest number of neighbors per type and the minimal distance",
        description="Count, for every atom of every frame, the neighbors of each type within "
                    "RCUT (periodic images included) and print the largest counts and the "
                    "smallest interatomic distance. SYSTEM may be a system folder, a folder "
                    "searched recursively for systems, or an HDF5 file.",
    )
    parser.add_argument("-s", "--system", action="append", required=True, metavar="SYSTEM",
                        help="data system or folder of systems (repeat for several)")
    parser.add_argument("-r", "--rcut", type=float, required=True,
                        help="cutoff radius in Angstrom")
    parser.add_argument("-t", "--type-map", nargs="+", default=None, metavar="TYPE",
                        help="element names in model order (default: the names in the data's "
                             "type_map.raw, in order of appearance)")
    parser.set_defaults(func=run)
    return parser


def _load(paths, type_map):
    """Systems in the given type_map, or (no type_map) in the union of the data's names."""
    from dptensor.data.system import load_system, map_types

    if type_map is not None:
        return [load_system(p, type_map) for p in paths], list(type_map)
    systems = [load_system(p, None) for p in paths]
    names = []
    for s in systems:
        names += [n for n in (s.type_map or []) if n not in names]
    if not names:  # no type_map.raw anywhere: the data's indices are the types
        ntypes = max(int(s.atype.max()) for s in systems) + 1
        return systems, [f"type_{t}" for t in range(ntypes)]
    return [dataclasses.replace(s, type_map=names,
                                atype=map_types(s.atype, s.type_map, names, s.path))
            for s in systems], names


def run(args) -> int:
    from dptensor.data.neighbor import auto_sel_value, neighbor_stat, DEFAULT_AUTO_SEL_FACTOR
    from dptensor.data.system import find_systems

    if not args.rcut > 0:
        from dptensor.errors import InputError

        raise InputError(["--rcut: must be a positive number of Angstrom"])
    paths = find_systems(args.system)
    systems, names = _load(paths, args.type_map)
    max_nbor, min_dist = neighbor_stat(systems, args.rcut, names)
    nframes = sum(s.nframes for s in systems)
    print(f"systems: {len(systems)}, frames: {nframes}, rcut: {args.rcut:g} Angstrom")
    print(f"min_nbor_dist: {min_dist:.6f}")
    print(f"max_nbor_size: {max_nbor}")
    width = max(len(n) for n in names)
    for name, count in zip(names, max_nbor):
        auto = auto_sel_value(count, DEFAULT_AUTO_SEL_FACTOR)
        print(f"  {name:<{width}}  max {count:>5}   sel 'auto' -> {auto}")
    return 0
