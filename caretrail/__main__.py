from caretrail.cli import main

main()
