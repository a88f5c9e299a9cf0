/* placeholder until the process runtime lands */
int cmd_supervise(int argc, char **argv);
int cmd_supervise(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return 2;
}
