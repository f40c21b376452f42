package envfile

// Var is one variable the production stack reads.
type Var struct {
	Name string
	// Required variables must be set to a real value.
	Required bool
	// Secret variables are shown as placeholders in the example.
	Secret bool
	// Section groups the example file.
	Section string
	// Doc says what the variable is, in a sentence or two.
	Doc string
	// Example is the value the example file shows (for a secret, a
	// placeholder that env check rejects).
	Example string
	// Number marks variables that must be whole numbers when set.
	Number bool
	// OneOf, when set, lists the values allowed (case-insensitive).
	OneOf []string
}

// Placeholder marks example values that must be replaced.
const Placeholder = "CHANGE_ME"

// Vars lists every variable any service of the generated stack reads.
var Vars = []Var{
	{Name: "DJANGO_SECRET_KEY", Required: true, Secret: true, Section: "Django",
		Doc:     "Django's secret key: at least 50 random characters, never shared or committed. Generate one: python3 -c 'import secrets; print(secrets.token_urlsafe(50))'",
		Example: Placeholder + "_to_at_least_50_random_characters"},
	{Name: "DJANGO_ALLOWED_HOSTS", Required: true, Section: "Django",
		Doc:     "Host names the site answers to, comma-separated (Django's ALLOWED_HOSTS).",
		Example: "example.com,www.example.com"},
	{Name: "DJANGO_CSRF_TRUSTED_ORIGINS", Section: "Django",
		Doc:     "Origins trusted for unsafe requests, comma-separated, with scheme. Default: https:// and each allowed host.",
		Example: "https://example.com,https://www.example.com"},
	{Name: "DJANGO_DEBUG", Section: "Django",
		Doc:     "Must stay false in production: debug pages show settings and code to anyone.",
		Example: "false"},
	{Name: "DJANGO_LOG_LEVEL", Section: "Django",
		Doc:     "Level of the JSON logs on stdout: DEBUG, INFO, WARNING or ERROR. Default INFO.",
		Example: "INFO", OneOf: []string{"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}},
	{Name: "DJANGO_SECURE_HSTS_SECONDS", Section: "Django",
		Doc:     "How long browsers must use HTTPS only (Strict-Transport-Security). Default one year; start lower while trying HTTPS out.",
		Example: "31536000", Number: true},
	{Name: "POSTGRES_DB", Required: true, Section: "PostgreSQL",
		Doc:     "Name of the database, created on the first start.",
		Example: "app"},
	{Name: "POSTGRES_USER", Required: true, Section: "PostgreSQL",
		Doc:     "Database user, created on the first start.",
		Example: "app"},
	{Name: "POSTGRES_PASSWORD", Required: true, Secret: true, Section: "PostgreSQL",
		Doc:     "Database password: long and random. It is set when the database is first created; changing it here later does not change it in the database.",
		Example: Placeholder + "_to_a_long_random_password"},
	{Name: "REDIS_PASSWORD", Required: true, Secret: true, Section: "Redis",
		Doc:     "Password Redis requires (cache and sessions): long and random.",
		Example: Placeholder + "_to_a_long_random_password"},
	{Name: "HTTP_BIND", Section: "nginx",
		Doc:     "Host port, or address:port, nginx takes HTTP on. Default 80.",
		Example: "80"},
	{Name: "HTTPS_BIND", Section: "nginx",
		Doc:     "Host port, or address:port, nginx takes HTTPS on. Default 443.",
		Example: "443"},
	{Name: "GUNICORN_WORKERS", Section: "Web",
		Doc:     "gunicorn worker processes. Default: two per CPU plus one, at most 12.",
		Example: "5", Number: true},
	{Name: "GUNICORN_TIMEOUT", Section: "Web",
		Doc:     "Seconds a request may take before gunicorn restarts its worker. Default 30.",
		Example: "30", Number: true},
	{Name: "PYTHON_IMAGE", Section: "Web",
		Doc:     "Base image the app image is built on. Default python:3.11-slim.",
		Example: "python:3.11-slim"},
	{Name: "MUELLE_IMAGE", Section: "Web",
		Doc:     "Name of the app image. Set by muelle deploy for each release; leave unset otherwise.",
		Example: "myproject-web:latest"},
	{Name: "MUELLE_RELEASE", Section: "Web",
		Doc:     "Release identifier shown by /healthz. Set by muelle deploy; leave unset otherwise.",
		Example: "dev"},
}

// Lookup returns the variable with the given name.
func Lookup(name string) (Var, bool) {
	for _, v := range Vars {
		if v.Name == name {
			return v, true
		}
	}
	return Var{}, false
}
