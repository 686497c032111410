"""`python -m codec new-key KEY_ID` prints a new entry for the key ring."""

import sys

from codec import new_key_entry

if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "new-key":
        print(new_key_entry(sys.argv[2]))
    else:
        sys.exit("usage: python -m codec new-key KEY_ID")
