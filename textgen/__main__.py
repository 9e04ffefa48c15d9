import os
import sys

from textgen.cli import main

code = main()
sys.stdout.flush()
sys.stderr.flush()
# Every file is written and closed by now. Exit at once: TensorFlow's teardown of a
# long run's input pipeline can otherwise hold the process (and its training slot)
# for tens of seconds after the work is done.
os._exit(code)
