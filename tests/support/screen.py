"""What a terminal shows during and after a program's output: feeds the bytes read on stdin (a
typescript, as script(1) records it) into pyte's VT100 emulator of COLUMNS x ROWS (argv[1],
argv[2]) and prints the screen's rows, trailing spaces trimmed, one per line. With a third
argument `frames`, prints the screen after each carriage return of the output too (each screen
ends with a line holding a form feed), so a test can look at every frame a progress bar drew."""
import sys

import pyte

columns, rows = int(sys.argv[1]), int(sys.argv[2])
frames = len(sys.argv) > 3 and sys.argv[3] == "frames"
screen = pyte.Screen(columns, rows)
stream = pyte.ByteStream(screen)
data = sys.stdin.buffer.read()


def show():
    for line in screen.display:
        print(line.rstrip())
    print("\f")


if frames:
    for chunk in data.split(b"\r"):
        stream.feed(chunk + b"\r")
        show()
else:
    stream.feed(data)
    show()
