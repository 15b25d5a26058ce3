"""``--backend pt|tf`` with the aliases ``--pt`` and ``--tf``; default $DPT_BACKEND, else pt."""


def add_backend_arguments(parser):
    group = parser.add_mutually_exclusive_group()
    group.add_argument("-b", "--backend", help="backend: pt (PyTorch) or tf (TensorFlow); "
                       "default: $DPT_BACKEND, else pt")
    group.add_argument("--pt", dest="backend", action="store_const", const="pt", help="same as --backend pt")
    group.add_argument("--tf", dest="backend", action="store_const", const="tf", help="same as --backend tf")
