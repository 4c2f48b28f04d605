"""`python -m uvb_lab.launch`: the same as `uvb-train`."""

from uvb_lab.launch import main

main()
