"""The files a search's sweep folder holds beside its runs, by name: the sweepers write them (uvb_lab/launch/), the
reports look for them (uvb_lab/report/). A leaf module, so that a report finds them without importing a sweeper.
"""

PROTOCOL_RECORD = "protocol.json"  # tune-then-test's record (uvb_lab/launch/protocol_record.py)
HALVING_TABLE = "successive_halving.csv"  # successive halving's trials, rung by rung (uvb_lab/launch/successive_halving.py)
