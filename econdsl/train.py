"""``torchrun --nproc-per-node N -m econdsl.train FILE [options]``: one process of a run spread over processes
(``econdsl train --nproc N`` starts these itself). The options are ``econdsl train``'s."""

from .commands.train import train

if __name__ == "__main__":
    train(prog_name="econdsl train")
