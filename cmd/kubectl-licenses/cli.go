package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seatkeeper/seatkeeper/api/v1alpha1"
)

// kubeFlags are the kubectl flags that choose the cluster, the user and the namespace.
type kubeFlags struct {
	kubeconfig string
	overrides  clientcmd.ConfigOverrides
}

// connectFunc returns a client for the cluster that the flags name, and the namespace to use
// when -A is not given (the flag -n, else the kubeconfig context's namespace).
type connectFunc func(*kubeFlags) (client.Client, string, error)

// app is one invocation of the plugin: its streams, clock, flags and connection.
type app struct {
	stdout, stderr io.Writer
	clock          clock.PassiveClock
	connectFn      connectFunc

	kube kubeFlags

	// Set on the first call of connect.
	client    client.Client
	namespace string
}

// scope is where a command looks: one namespace, or all of them (-A).
type scope struct {
	namespace string
	all       bool
}

func (s scope) String() string {
	if s.all {
		return "in all namespaces"
	}
	return "in namespace " + s.namespace
}

// usageError is a mistake in the command line; run adds a pointer to --help.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// usageArgs marks the errors of an argument check as usage errors.
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return usageError{err}
		}
		return nil
	}
}

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// reportedError is a failure the command has already described on stderr (end prints one
// line per session); run only turns it into the exit code.
type reportedError struct{ err error }

func (e reportedError) Error() string { return e.err.Error() }

// run runs the plugin with args (without the program's name), writing results to stdout and
// messages to stderr, and returns the exit code: 0 on success, 1 otherwise. connect is called at
// most once, after the flags are parsed; clk gives the time ("now" for active sessions).
func run(ctx context.Context, args []string, stdout, stderr io.Writer, connect connectFunc, clk clock.PassiveClock) int {
	a := &app{stdout: stdout, stderr: stderr, clock: clk, connectFn: connect}
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	if errors.As(err, new(reportedError)) {
		return 1
	}
	fmt.Fprintf(stderr, "error: %v\n", err)
	if errors.As(err, new(usageError)) {
		fmt.Fprintln(stderr, "See 'kubectl licenses --help' for usage.")
	}
	return 1
}

// connect returns the client and the scope, connecting on the first call.
func (a *app) connect(all bool) (client.Client, scope, error) {
	if a.client == nil {
		c, ns, err := a.connectFn(&a.kube)
		if err != nil {
			return nil, scope{}, err
		}
		a.client, a.namespace = c, ns
	}
	return a.client, scope{namespace: a.namespace, all: all}, nil
}

const rootLong = `kubectl licenses shows and manages seatkeeper licences: the usage of licence pools and of
their groups of holders, the named seats, and the session log of shared (concurrent) licences,
as a table, CSV or JSON; and it force-ends shared sessions to free their licences.

Reading needs the seatkeeper-reports role in the namespace (the customer account); ending
sessions needs seatkeeper-licenses. A supervisor of the namespace (seatkeeper-supervisor) can
bind either role to you.`

const rootExample = `  # Usage of every pool in every namespace
  kubectl licenses usage -A

  # … with reservations, overdraft and a line per group of holders
  kubectl licenses usage -A -o wide

  # Who holds a shared licence right now in namespace acme
  kubectl licenses sessions -n acme --active

  # The session log of one pool, for a spreadsheet
  kubectl licenses sessions -n acme --pool remote-support -o csv > sessions.csv

  # Free the licences of two sessions
  kubectl licenses end -n acme agent-3 agent-7`

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:     "kubectl-licenses",
		Short:   "Show and manage seatkeeper licences",
		Long:    rootLong,
		Example: rootExample,
		Annotations: map[string]string{
			cobra.CommandDisplayNameAnnotation: "kubectl licenses",
		},
		// Without Run, cobra would answer an unknown command with help and exit 0.
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cmd.Help()
			}
			msg := fmt.Sprintf("unknown command %q", args[0])
			if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
				msg += fmt.Sprintf(" (did you mean %s?)", strings.Join(s, " or "))
			}
			return usageError{errors.New(msg)}
		},
		SilenceErrors:              true,
		SilenceUsage:               true,
		SuggestionsMinimumDistance: 2,
		CompletionOptions:          cobra.CompletionOptions{DisableDefaultCmd: true},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	a.bindKubeFlags(root.PersistentFlags())
	root.AddCommand(a.usageCommand(), a.groupsCommand(), a.seatsCommand(), a.sessionsCommand(), a.endCommand(), a.portalCommand(), versionCommand())
	return root
}

// bindKubeFlags adds kubectl's flags for choosing the cluster, the user and the namespace. The
// ones administrators use are shown in --help; the rest (credentials and TLS details) work as in
// kubectl but stay hidden.
func (a *app) bindKubeFlags(flags *pflag.FlagSet) {
	flags.StringVar(&a.kube.kubeconfig, clientcmd.RecommendedConfigPathFlag, "", "Path to the kubeconfig file to use")
	names := clientcmd.RecommendedConfigOverrideFlags("")
	names.ContextOverrideFlags.Namespace.Description = "The namespace (customer account) to look in; default: the kubeconfig context's namespace"
	clientcmd.BindOverrideFlags(&a.kube.overrides, flags, names)
	shown := map[string]bool{
		clientcmd.RecommendedConfigPathFlag: true,
		clientcmd.FlagContext:               true,
		clientcmd.FlagNamespace:             true,
		clientcmd.FlagClusterName:           true,
		clientcmd.FlagAuthInfoName:          true,
		clientcmd.FlagImpersonate:           true,
		clientcmd.FlagImpersonateGroup:      true,
		clientcmd.FlagTimeout:               true,
	}
	flags.VisitAll(func(f *pflag.Flag) {
		if !shown[f.Name] {
			f.Hidden = true
		}
	})
}

// listFlags are the flags of every listing command.
type listFlags struct {
	output        string
	allNamespaces bool
}

func (l *listFlags) bind(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&l.output, "output", "o", "table", "Output format: table, wide (the table with more columns), csv or json")
	cmd.Flags().BoolVarP(&l.allNamespaces, "all-namespaces", "A", false, "List in all namespaces (needs the role in every namespace)")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(formats, cobra.ShellCompDirectiveNoFileComp))
}

var formats = []string{"table", "wide", "csv", "json"}

func (l *listFlags) validate() error {
	for _, f := range formats {
		if l.output == f {
			return nil
		}
	}
	return usagef("unknown output format %q: use table, wide, csv or json", l.output)
}

// completePools completes --pool with the pools of the namespace.
func (a *app) completePools(cmd *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
	c, sc, err := a.connect(false)
	if err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	pools, err := listPools(cmd.Context(), c, sc)
	if err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	names := make([]string, 0, len(pools))
	for _, p := range pools {
		names = append(names, p.Name)
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}

// buildVersion is set at build time with -ldflags '-X main.buildVersion=v1.2.3'; otherwise the
// module version that go install recorded is used.
var buildVersion string

func version() string {
	if buildVersion != "" {
		return buildVersion
	}
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
		return info.Main.Version
	}
	return "devel"
}

func versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the plugin's version",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "kubectl-licenses %s for %s\n", version(), v1alpha1.GroupVersion)
			return err
		},
	}
}
