// Package gkedr registers gkedr's Cloud Functions entry points. The Go buildpack builds only the
// module's root package, so this file is the one place every entry point is named; the adapters live
// in package functions.
package gkedr

import (
	ff "github.com/GoogleCloudPlatform/functions-framework-go/functions"

	"github.com/gkedr/gkedr/functions"
)

func init() {
	ff.CloudEvent("BackupTrigger", functions.BackupTrigger)
	ff.CloudEvent("RestoreOnBackup", functions.RestoreOnBackup)
	ff.CloudEvent("VerifyRestore", functions.VerifyRestore)
}
