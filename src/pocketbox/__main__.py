from pocketbox.cli.entry import main

main()
