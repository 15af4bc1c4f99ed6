from photoverify.cli import main

main()
