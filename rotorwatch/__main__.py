from rotorwatch.cli import main

main()
